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

// startExe is the running binary's path as the process started: after
// the swap renamed the running binary aside, os.Executable may name where
// it went (ward.prev.exe), not ward.exe.
var startExe, startExeErr = executable()

// Restart starts the binary at the path the running binary started from
// (see Exec): after ErrRestart, the updated or restored one.
func Restart() error {
	if startExeErr != nil {
		return startExeErr
	}
	return Exec(startExe)
}
