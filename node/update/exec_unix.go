//go:build !windows

package update

import (
	"fmt"
	"os"
	"syscall"
)

// Exec replaces the process with the binary at exe, with the same
// arguments and environment (the same process ID, so a service manager
// sees one service throughout). It returns only on failure.
func Exec(exe string) error {
	err := syscall.Exec(exe, append([]string{exe}, os.Args[1:]...), os.Environ())
	return fmt.Errorf("exec %s: %w", exe, err)
}

// Restart execs the binary at the running binary's path (see Exec): after
// ErrRestart, the updated or restored one.
func Restart() error {
	exe, err := executable()
	if err != nil {
		return err
	}
	return Exec(exe)
}
