package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func newSSHCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "ssh [--state-dir D] USER@DEVICE [ssh arguments]",
		Short: "Run the system ssh to a device through the overlay (ward nc as ProxyCommand)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ssh, err := exec.LookPath("ssh")
			if err != nil {
				return fmt.Errorf("find ssh: %w", err)
			}
			argv, err := sshArgs(dir, args)
			if err != nil {
				return err
			}
			return syscall.Exec(ssh, argv, os.Environ())
		},
	}
	cmd.Flags().SetInterspersed(false)
	addStateDirFlag(cmd, &dir)
	return cmd
}

// sshArgs returns ssh's argv: a ProxyCommand running this binary's
// `ward nc` against the daemon of dir, then the user's arguments.
func sshArgs(dir string, args []string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the ward binary: %w", err)
	}
	proxy := fmt.Sprintf("%s nc --state-dir %s %%h %%p", shellQuote(self), shellQuote(dir))
	return append([]string{"ssh", "-o", "ProxyCommand=" + proxy}, args...), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
