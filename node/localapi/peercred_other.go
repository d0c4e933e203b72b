//go:build !linux && !darwin && !windows

package localapi

import (
	"fmt"
	"net"
	"os"
)

// peerOf does not know the peer's user on the other unix systems: there
// the state directory's mode 0700 and the socket's mode 0600 (see Listen)
// keep other users from connecting, and the client's checks of the
// socket's and the directory's owners (checkSocketFiles) keep it from
// trusting another user's daemon.
func peerOf(*net.UnixConn) (peer, error) { return peer{}, nil }

// selfName names this process's user in messages.
func selfName() string { return fmt.Sprintf("uid %d", os.Geteuid()) }
