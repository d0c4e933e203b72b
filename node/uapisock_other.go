//go:build !linux && !darwin

package node

import (
	"log/slog"
	"net"
)

// ListenUAPI returns ErrUAPIUnsupported: wireguard-go's UAPI on Windows is
// a named pipe, which Ward does not serve.
func ListenUAPI(dir, name string, log *slog.Logger) (net.Listener, error) {
	return nil, ErrUAPIUnsupported
}
