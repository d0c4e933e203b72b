package localapi

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID (afunix.h:
// _WSAIOR(IOC_VENDOR, 256)): the process id of an AF_UNIX socket's peer,
// recorded at connect.
const sioAFUnixGetPeerPID = 0x58000100

// peerOf returns the user of the process at the other end of c: its
// process id from the socket, then that process's token's user. It is
// trusted when it is this process's user, SYSTEM, or an elevated process
// (an administrator's, root's counterpart). A Windows that cannot tell the
// peer's process leaves it unknown: the state directory's access list
// (see privateDir), which every connecting process needs, is then the
// only guard. A peer whose token cannot be read is refused.
func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var pid uint32
	var ioErr error
	if err := raw.Control(func(fd uintptr) {
		var n uint32
		ioErr = windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), 4, &n, nil, 0)
	}); err != nil {
		return peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	if ioErr != nil || pid == 0 {
		return peer{}, nil // this Windows does not say: the access list guards
	}
	sid, elevated, err := processUser(pid)
	if err != nil {
		return peer{}, fmt.Errorf("peer credentials of process %d: %w", pid, err)
	}
	self, err := currentUserSID()
	if err != nil {
		return peer{}, err
	}
	return peer{known: true, trusted: sid == self || sid == "S-1-5-18" || elevated, who: fmt.Sprintf("user %s (process %d)", sid, pid)}, nil
}

// processUser returns the SID of the user process pid runs as, and
// whether its token is elevated.
func processUser(pid uint32) (sid string, elevated bool, err error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", false, err
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return "", false, err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", false, err
	}
	if u.User.Sid == nil {
		return "", false, errors.New("token without a user")
	}
	return u.User.Sid.String(), tok.IsElevated(), nil
}

// selfName names this process's user in messages.
func selfName() string {
	if sid, err := currentUserSID(); err == nil {
		return "user " + sid
	}
	return "this user"
}
