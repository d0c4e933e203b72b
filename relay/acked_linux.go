package relay

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// bytesAcked is how many bytes written to c, a TCP connection, its peer
// has acknowledged (the kernel's count, which grows during a long write
// too); false when c cannot tell.
func bytesAcked(c net.Conn) (uint64, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
		return 0, false
	}
	return info.Bytes_acked, true
}
