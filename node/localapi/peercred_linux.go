package localapi

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end of c (the
// client, for the server's side of a connection; the listener, for the
// client's side), as the kernel recorded it at connect or listen time
// (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uid int, known bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, false, fmt.Errorf("peer credentials: %w", credErr)
	}
	return int(cred.Uid), true, nil
}
