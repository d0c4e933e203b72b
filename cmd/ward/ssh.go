package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

func newSSHCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh [--state-dir D] [ssh options] USER@DEVICE [command]",
		Short: "Run the system ssh to a device through the overlay (ward nc as ProxyCommand)",
		Long: "Runs ssh with ProxyCommand set to `ward nc`, so DEVICE is a peer name or overlay\n" +
			"address. Every argument but --state-dir goes to ssh as it is.",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, rest, help := splitStateDir(args)
			if help || len(rest) == 0 {
				return cmd.Help()
			}
			ssh, err := exec.LookPath("ssh")
			if err != nil {
				return fmt.Errorf("find ssh: %w", err)
			}
			argv, err := sshArgs(dir, rest)
			if err != nil {
				return err
			}
			return execSSH(ssh, argv)
		},
	}
	return cmd
}

// splitStateDir takes --state-dir (and -h/--help before the destination)
// out of ssh's arguments.
func splitStateDir(args []string) (dir string, rest []string, help bool) {
	dir = defaultStateDir()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--state-dir" && i+1 < len(args):
			dir = args[i+1]
			i++
		case strings.HasPrefix(a, "--state-dir="):
			dir = strings.TrimPrefix(a, "--state-dir=")
		case (a == "-h" || a == "--help") && len(rest) == 0:
			return dir, nil, true
		default:
			rest = append(rest, a)
		}
	}
	return dir, rest, false
}

// sshArgs returns ssh's argv: a ProxyCommand running this binary's
// `ward nc` against the daemon of dir, then the user's arguments.
func sshArgs(dir string, args []string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the ward binary: %w", err)
	}
	proxy := fmt.Sprintf("%s nc --state-dir %s %%h %%p", commandQuote(self), commandQuote(dir))
	return append([]string{"ssh", "-o", "ProxyCommand=" + proxy}, args...), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
