//go:build linux || darwin

package node

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/wardnet/ward/node/localapi"
)

// ListenUAPI opens the UAPI socket dir/name.sock (where `wg` and wgctrl
// find a userspace device named name), for the node's own user and root
// only, as the local API is: the socket is bound in a new private (0700)
// directory beside it, restricted to mode 0600 there and only then moved
// into dir, so it is never reachable with a laxer mode; and each
// connection's user is checked at accept (localapi.OwnerOnly). A live
// socket of that name (another running device) is an error; a stale one
// is replaced.
func ListenUAPI(dir, name string, log *slog.Logger) (net.Listener, error) {
	path := filepath.Join(dir, name+".sock")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uapi socket %s: %w", path, err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("uapi socket %s: another device is serving it", path)
	}
	tmp, err := os.MkdirTemp(dir, ".ward-uapi-")
	if err != nil {
		return nil, fmt.Errorf("uapi socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	l, err := net.Listen("unix", filepath.Join(tmp, "s"))
	if err != nil {
		return nil, fmt.Errorf("uapi socket %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(filepath.Join(tmp, "s"), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("uapi socket %s: %w", path, err)
	}
	if err := os.Rename(filepath.Join(tmp, "s"), path); err != nil {
		l.Close()
		return nil, fmt.Errorf("uapi socket %s: %w", path, err)
	}
	return &uapiListener{Listener: localapi.OwnerOnly(ul, "uapi", log), path: path}, nil
}

// uapiListener removes its socket file on Close.
type uapiListener struct {
	net.Listener
	path string
}

func (l *uapiListener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.path)
	return err
}
