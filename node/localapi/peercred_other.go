//go:build !linux

package localapi

import "net"

// peerUID does not know the peer's user outside Linux: there the state
// directory's mode 0700 and the socket's mode 0600 (see Listen) keep
// other users from connecting, and the client's checks of the socket's
// and the directory's owners (checkSocketFiles) keep it from trusting
// another user's daemon. Issue 13 adds getpeereid (macOS) and the
// Windows equivalent.
func peerUID(*net.UnixConn) (uid int, known bool, err error) { return 0, false, nil }
