//go:build !unix

package pgtest

import (
	"os"
	"os/exec"
)

// dropPrivileges runs commands as the current user.
func dropPrivileges(string) (func(*exec.Cmd), error) { return func(*exec.Cmd) {}, nil }

// interrupt stops p; other systems have no SIGINT to send.
func interrupt(p *os.Process) error { return p.Kill() }
