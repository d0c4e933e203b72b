//go:build linux || darwin

package localapi

import (
	"fmt"
	"net"
)

// peerUID returns the uid of the process at the other end of c (the
// client, for the server's side of a connection; the listener, for the
// client's side), as the kernel recorded it at connect or listen time
// (socketPeerUID).
func peerUID(c *net.UnixConn) (uid int, known bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", err)
	}
	var credErr error
	if err := raw.Control(func(fd uintptr) { uid, credErr = socketPeerUID(int(fd)) }); err != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", credErr)
	}
	return uid, true, nil
}
