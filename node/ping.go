package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// pingMagic and pongMagic start an echo request and its answer.
	pingMagic = "WARDPING"
	pongMagic = "WARDPONG"
	// pingLen is the length of both: magic and an 8-byte nonce.
	pingLen = len(pingMagic) + 8
	// pingRetry is how long a probe waits before the next is sent.
	pingRetry = time.Second
)

// echo answers pings on PingPort of each overlay address. Its owner (the
// data plane) stops it with close; nothing else keeps it running, so
// close may be called with the Engine's lock held.
type echo struct {
	conns []net.PacketConn
	// wg tracks the serve goroutines, which end when their conn closes.
	wg sync.WaitGroup
	// stopWatch cancels closing the conns when the context ends.
	stopWatch func() bool
}

// startEcho listens on PingPort of each valid address in addrs through np.
// An address it cannot listen on is an error, or, when bestEffort is set,
// logged and skipped. The returned echo stops on close or when ctx is done.
func startEcho(ctx context.Context, np netPlane, addrs []netip.Addr, bestEffort bool, log *slog.Logger) (*echo, error) {
	e := &echo{}
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		c, err := np.ListenUDP(netip.AddrPortFrom(a, PingPort))
		if err != nil && bestEffort {
			log.Warn("ping echo not served", "addr", a, "err", err)
			continue
		}
		if err != nil {
			e.close()
			return nil, fmt.Errorf("start ping echo: %w", err)
		}
		e.conns = append(e.conns, c)
	}
	for _, c := range e.conns {
		e.wg.Add(1)
		go e.serve(c, log)
	}
	// Not a goroutine waiting for ctx: close would have to wait for it,
	// and it ends only with ctx (the Engine's), so replacing a data plane
	// would wait for the Engine to close, with its lock held.
	e.stopWatch = context.AfterFunc(ctx, e.closeConns)
	return e, nil
}

// serve answers well-formed pings on c until it closes.
func (e *echo) serve(c net.PacketConn, log *slog.Logger) {
	defer e.wg.Done()
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Debug("ping echo stopped", "err", err)
			}
			return
		}
		if n != pingLen || string(buf[:len(pingMagic)]) != pingMagic {
			continue
		}
		copy(buf, pongMagic)
		_, _ = c.WriteTo(buf[:pingLen], from)
	}
}

func (e *echo) closeConns() {
	for _, c := range e.conns {
		c.Close()
	}
}

// close stops the echo and waits for its goroutines, which need nothing
// but their conns closed. It is idempotent.
func (e *echo) close() {
	if e.stopWatch != nil {
		e.stopWatch()
	}
	e.closeConns()
	e.wg.Wait()
}

// pingAddr sends probes to addr's echo through np, one per pingRetry,
// until one is answered or ctx is done, and returns the answered probe's
// round-trip time.
func pingAddr(ctx context.Context, np netPlane, addr netip.Addr) (time.Duration, error) {
	c, err := np.DialContext(ctx, "udp", netip.AddrPortFrom(addr, PingPort).String())
	if err != nil {
		return 0, fmt.Errorf("ping %v: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		rtt, ok, err := probe(c)
		if err != nil && ctx.Err() == nil {
			return 0, fmt.Errorf("ping %v: %w", addr, err)
		}
		if ok {
			return rtt, nil
		}
	}
	return 0, fmt.Errorf("ping %v: %w", addr, context.Cause(ctx))
}

// probe sends one ping and waits up to pingRetry for its answer.
func probe(c net.Conn) (time.Duration, bool, error) {
	req := make([]byte, pingLen)
	copy(req, pingMagic)
	if _, err := rand.Read(req[len(pingMagic):]); err != nil {
		return 0, false, err
	}
	start := time.Now()
	if _, err := c.Write(req); err != nil {
		return 0, false, err
	}
	if err := c.SetReadDeadline(start.Add(pingRetry)); err != nil {
		return 0, false, err
	}
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if n == pingLen && string(buf[:len(pongMagic)]) == pongMagic && bytes.Equal(buf[len(pongMagic):n], req[len(pingMagic):]) {
			return time.Since(start), true, nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
