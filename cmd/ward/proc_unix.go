//go:build unix

package main

import (
	"os"
	"syscall"
)

// detached makes a started daemon the leader of a session of its own, so
// it outlives the terminal `ward up` ran in.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// execSSH replaces this process with ssh (argv[0] is its name).
func execSSH(ssh string, argv []string) error { return syscall.Exec(ssh, argv, os.Environ()) }

// commandQuote quotes an argument of a command line the person's shell
// runs (ssh's ProxyCommand, the commands the status page shows).
func commandQuote(s string) string { return shellQuote(s) }
