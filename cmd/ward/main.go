// Command ward is Ward's single binary: the coordinator, the node agent, the
// desktop client and the admin tools are its subcommands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errSilent marks an error whose message the command already printed; main
// only sets the exit code for it.
var errSilent = errors.New("silent failure")

// Exit codes.
const (
	exitFailure = 1 // the command failed
	exitUsage   = 2 // the command line is wrong: unknown command, bad flag or arguments
)

func main() {
	os.Exit(runWard(os.Args[1:], os.Stdout, os.Stderr))
}

// runWard runs the command line args with the given output and returns the
// exit code, after printing an error on stderr.
func runWard(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errSilent):
	case printPolicyProblems(stderr, err):
	default:
		fmt.Fprintln(stderr, "ward:", err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmd.CommandPath())
		return exitUsage
	}
	return exitFailure
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ward",
		Short:         "Ward: a zero-trust WireGuard overlay network for device fleets",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newACLCmd(), newCoordinatorCmd(), newRelayCmd(), newAdminCmd(), newReleaseCmd(), newNetcheckCmd(), newSimCmd())
	root.AddCommand(newNodeCmds()...)
	root.AddCommand(newClientCmds()...)
	root.AddCommand(newRequestCmds()...)
	strictUsage(root)
	return root
}
