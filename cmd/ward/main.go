// Command ward is Ward's single binary: the coordinator, the node agent, the
// desktop client and the admin tools are its subcommands.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/acl"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errSilent marks an error whose message the command already printed; main
// only sets the exit code for it.
var errSilent = errors.New("silent failure")

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		switch {
		case errors.Is(err, errSilent):
		case acl.Problems(err) != nil:
			// Policy problems are already FILE:line:col: message lines.
			for _, p := range acl.Problems(err) {
				fmt.Fprintln(os.Stderr, p)
			}
		default:
			fmt.Fprintln(os.Stderr, "ward:", err)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ward",
		Short:         "Ward: a zero-trust WireGuard overlay network for device fleets",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newACLCmd(), newCoordinatorCmd(), newAdminCmd())
	root.AddCommand(newNodeCmds()...)
	root.AddCommand(newClientCmds()...)
	return root
}
