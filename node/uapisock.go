package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// UAPI socket defaults: where WireGuard's own tools (`wg`, wgctrl) look
// for a userspace device, and the name a node's device has there.
const (
	DefaultUAPIDir  = "/var/run/wireguard"
	DefaultUAPIName = "ward"
	// uapiTimeout bounds one UAPI exchange.
	uapiTimeout = 5 * time.Second
	// maxUAPIRequest bounds what a UAPI client may send.
	maxUAPIRequest = 4096
)

// ErrUAPIUnsupported says this OS has no UAPI unix socket (Windows, where
// wireguard-go's UAPI is a named pipe): the node serves none there.
var ErrUAPIUnsupported = errors.New("uapi socket not supported on this system")

// errno values of UAPI answers.
const (
	uapiOK    = 0
	uapiEPERM = 1
	uapiEIO   = 5
)

// WriteUAPI writes the running device's UAPI "get" answer to w, as
// wireguard-go gives it: the interface's private key and listen port, and
// each peer's key, endpoint, allowed IPs, latest handshake and byte
// counters (the counters `ward status` shows). The private key is the
// one in the node's state file, which the socket's only users (the
// node's own user and root) can read anyway. It fails when no data plane
// runs.
func (e *Engine) WriteUAPI(w io.Writer) error {
	dp := e.dp.Load()
	if dp == nil {
		return ErrNotRunning
	}
	if err := dp.dev.IpcGetOperation(w); err != nil {
		return fmt.Errorf("read wireguard state: %w", err)
	}
	return nil
}

// ServeUAPI answers WireGuard's UAPI on l until ctx is done, then closes
// l and every connection and returns once they have ended. It is read
// only: "get=1" is answered from the device (WriteUAPI); any other
// operation ("set=1": `wg set`) is refused with EPERM, so the policy's
// peer set stays the coordinator's. l should come from ListenUAPI.
func ServeUAPI(ctx context.Context, l net.Listener, get func(io.Writer) error, log *slog.Logger) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept uapi: %w", err)
		}
		wg.Go(func() {
			defer c.Close()
			done := context.AfterFunc(ctx, func() { c.Close() })
			defer done()
			if err := answerUAPI(c, get); err != nil {
				log.Debug("uapi", "err", err)
			}
		})
	}
}

// answerUAPI reads one UAPI request from c and answers it.
func answerUAPI(c net.Conn, get func(io.Writer) error) error {
	c.SetDeadline(time.Now().Add(uapiTimeout))
	op, err := bufio.NewReader(io.LimitReader(c, maxUAPIRequest)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read uapi request: %w", err)
	}
	w := bufio.NewWriter(c)
	errno := uapiOK
	if op != "get=1\n" {
		errno = uapiEPERM
	} else if err := get(w); err != nil {
		errno = uapiEIO
	}
	fmt.Fprintf(w, "errno=%d\n\n", errno)
	return w.Flush()
}
