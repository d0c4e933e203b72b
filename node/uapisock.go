package node

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/wire"
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
// wireguard-go gives it (the interface's private key and listen port, and
// each peer's key, allowed IPs, latest handshake and byte counters: the
// counters `ward status` shows), but for each peer's endpoint: Ward's
// bind names a peer's endpoint by its key, so the line is rewritten to the
// direct path's address, or left out while the peer is reached through a
// relay. The private key is the one in the node's state file, which the
// socket's only users (the node's own user and root) can read anyway. It
// fails when no data plane runs.
func (e *Engine) WriteUAPI(w io.Writer) error {
	dp := e.dp.Load()
	if dp == nil {
		return ErrNotRunning
	}
	s, err := dp.dev.IpcGet()
	if err != nil {
		return fmt.Errorf("read wireguard state: %w", err)
	}
	var peer wire.WGPublic
	for line := range strings.Lines(s) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		switch k {
		case "public_key":
			peer = wire.WGPublic{}
			hex.Decode(peer[:], []byte(v))
		case "endpoint":
			if e.cfg.Kernel != nil {
				break // the kernel link's own endpoint
			}
			addr := e.pathOf(peer).addr
			if !addr.IsValid() {
				continue
			}
			line = "endpoint=" + addr.String() + "\n"
		}
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return nil
}

// ServeUAPI answers WireGuard's UAPI on l until ctx is done, then closes
// l and every connection and returns once they have ended. It is read
// only: "get=1" is answered from the device (WriteUAPI); any other
// operation ("set=1": `wg set`) is refused with EPERM, so the policy's
// peer set stays the coordinator's. l should come from ListenUAPI.
func ServeUAPI(ctx context.Context, l net.Listener, get func(io.Writer) error, log *slog.Logger) error {
	// Closed here too, not only by the AfterFunc below, which may still be
	// running when the loop ends: l is closed (its socket file removed)
	// when ServeUAPI returns.
	defer l.Close()
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
