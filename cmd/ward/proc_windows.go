package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"

	"github.com/wardnet/ward/client/desktop"
)

// detached starts the daemon without a console and in a process group of
// its own, so it outlives the console `ward up` ran in and its Ctrl-C.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS, HideWindow: true}
}

// execSSH runs ssh (argv[0] is its name) on this console and leaves with
// its exit code: Windows cannot replace a process's program.
func execSSH(ssh string, argv []string) error {
	c := exec.Command(ssh, argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	return err
}

// commandQuote quotes an argument of a Windows command line (ssh's
// ProxyCommand, which Windows' OpenSSH starts as one; the commands the
// status page shows, for cmd or PowerShell).
func commandQuote(s string) string { return desktop.QuoteWindowsArg(s) }
