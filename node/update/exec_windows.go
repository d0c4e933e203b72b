//go:build windows

package update

import (
	"fmt"
	"os"
	"os/exec"
)

// Exec starts the binary at exe with the same arguments and environment
// and exits once it started: Windows has no exec. It returns only on
// failure.
func Exec(exe string) error {
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", exe, err)
	}
	os.Exit(0)
	return nil
}

// Restart starts the binary at the running binary's path (see Exec):
// after ErrRestart, the updated or restored one.
func Restart() error {
	exe, err := executable()
	if err != nil {
		return err
	}
	return Exec(exe)
}
