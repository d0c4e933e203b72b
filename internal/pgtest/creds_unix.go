//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// unprivileged are the users the server runs as when the test runs as
// root (PostgreSQL refuses to run as root), in order of preference.
var unprivileged = []string{"postgres", "nobody"}

// dropPrivileges returns how to run a command as an unprivileged user: the
// identity unchanged when the test is not root, else the first of
// unprivileged, to whom it gives dir.
func dropPrivileges(dir string) (func(*exec.Cmd), error) {
	if os.Geteuid() != 0 {
		return func(*exec.Cmd) {}, nil
	}
	for _, name := range unprivileged {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("give %s to %s: %w", dir, name, err)
		}
		return func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			setDeathSignal(c.SysProcAttr)
		}, nil
	}
	return nil, fmt.Errorf("running as root and none of the users %v exists", unprivileged)
}

// interrupt asks p for PostgreSQL's fast shutdown.
func interrupt(p *os.Process) error { return p.Signal(syscall.SIGINT) }
