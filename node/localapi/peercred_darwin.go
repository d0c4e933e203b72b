package localapi

import "golang.org/x/sys/unix"

// socketPeerUID reads the peer's uid of the unix socket fd
// (LOCAL_PEERCRED, what getpeereid reads).
func socketPeerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(cred.Uid), nil
}
