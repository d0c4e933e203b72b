//go:build linux || darwin

package localapi

import (
	"fmt"
	"net"
	"os"
)

// peerOf returns the user of the process at the other end of c (the
// client, for the server's side of a connection; the listener, for the
// client's side), as the kernel recorded it at connect or listen time
// (socketPeerUID).
func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var uid int
	var credErr error
	if err := raw.Control(func(fd uintptr) { uid, credErr = socketPeerUID(int(fd)) }); err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", credErr)
	}
	return peer{known: true, trusted: trustedUID(uid), who: fmt.Sprintf("uid %d", uid)}, nil
}

// selfName names this process's user in messages.
func selfName() string { return fmt.Sprintf("uid %d", os.Geteuid()) }
