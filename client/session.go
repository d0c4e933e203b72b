package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/client/tunnel"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// plane is a session's data plane: node.Engine, over the userspace
// netstack or a TUN. The session calls Apply from the map stream's
// goroutine; the other methods come from request goroutines, concurrently.
type plane interface {
	// Apply validates and applies one map message; a failure changes
	// nothing and makes the stream restart with a full map.
	Apply(m wire.MapResponse) error
	// Self is the node as the last map described it.
	Self() wire.Node
	// ActivePeers lists the map's peers whose key is valid at now.
	ActivePeers(now time.Time) []wire.Node
	// DialPeer opens a TCP connection to port on peer (name or address).
	DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error)
	// Ping probes peer until it answers or ctx ends.
	Ping(ctx context.Context, peer string) (localapi.PingResult, error)
	// Status describes the node and its peers.
	Status() localapi.Status
	// ListenPort is WireGuard's UDP port, 0 before the first full map.
	ListenPort() uint16
	// Close stops the data plane; it is idempotent.
	Close() error
}

// session is one login's life: its key, its data plane fed by the map
// stream, the timer that ends it at key expiry, and the endpoint reports.
// Its goroutines are tracked by the WaitGroup given to startSession.
type session struct {
	log   *slog.Logger
	co    *coord
	plane plane
	key   wire.WGPrivate
	// node is the node as the login (or the saved state) described it.
	node wire.Node
	// onEnd is called once, from a session goroutine, when the session ends
	// by itself (key expiry, re-keyed elsewhere); it must not wait for the
	// session's goroutines.
	onEnd func(s *session, reason string)

	connected atomic.Bool
	// expiry is the key's expiry (unix nanoseconds), updated from the map.
	expiry     atomic.Int64
	firstMap   chan struct{}
	firstOnce  sync.Once
	kickExpiry chan struct{}
	kickReport chan struct{}
	endOnce    sync.Once
	ctx        context.Context
	cancel     context.CancelFunc
}

// startSession starts a session with plane p for the login st.
func startSession(parent context.Context, wg *sync.WaitGroup, co *coord, p plane, st SessionState, log *slog.Logger,
	onEnd func(*session, string)) *session {
	s := &session{log: log, co: co, plane: p, key: st.WGKey, node: st.Node, onEnd: onEnd,
		firstMap: make(chan struct{}), kickExpiry: make(chan struct{}, 1), kickReport: make(chan struct{}, 1)}
	s.expiry.Store(st.KeyExpiry.UnixNano())
	s.ctx, s.cancel = context.WithCancel(parent)
	for _, fn := range []func(){s.expiryLoop, s.reportLoop, s.followMap} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	return s
}

// close stops the data plane and asks the goroutines to stop. It does not
// wait for them and is idempotent.
func (s *session) close() {
	s.cancel()
	s.plane.Close()
}

// keyExpiry returns the session key's expiry.
func (s *session) keyExpiry() time.Time { return time.Unix(0, s.expiry.Load()) }

// end ends the session by itself, once.
func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		s.log.Info("session ended", "reason", reason)
		s.onEnd(s, reason)
	})
}

// HandleMap implements control.MapHandler.
func (s *session) HandleMap(m wire.MapResponse) error {
	if err := s.plane.Apply(m); err != nil {
		return err
	}
	if m.Self != nil {
		s.selfChanged(*m.Self)
	}
	if m.Full {
		s.firstOnce.Do(func() { close(s.firstMap) })
		kick(s.kickReport)
	}
	return nil
}

// selfChanged follows the coordinator's view of this node: a new expiry
// (logout elsewhere, an admin's expiry) or another key (a newer login).
func (s *session) selfChanged(self wire.Node) {
	if self.WGKey != s.key.Public() {
		s.end("the coordinator moved this node to another key (a newer login)")
		return
	}
	if !self.KeyExpiry.IsZero() && self.KeyExpiry.UnixNano() != s.expiry.Load() {
		s.expiry.Store(self.KeyExpiry.UnixNano())
		kick(s.kickExpiry)
	}
}

// SetConnected implements control.MapHandler.
func (s *session) SetConnected(c bool) {
	s.connected.Store(c)
	if c {
		kick(s.kickReport)
	}
}

// followMap follows the map stream until the session ends, reconnecting
// with backoff and resuming from the last version applied. (It is
// control.Client.FollowMap's loop, kept here so the session owns its
// pacing.)
func (s *session) followMap() {
	var since uint64
	failures := 0
	for s.ctx.Err() == nil {
		last, got, err := s.co.ctrl.StreamMap(s.ctx, since, s)
		if s.ctx.Err() != nil {
			return
		}
		since = last
		if got {
			failures = 0
		}
		d := s.co.backoff.Delay(failures)
		failures++
		s.log.Info("map stream ended, reconnecting", "err", err, "since", since, "in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-s.ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// expiryLoop ends the session when its key expires, with or without the
// coordinator.
func (s *session) expiryLoop() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		exp := s.keyExpiry()
		if !time.Now().Before(exp) {
			s.end(fmt.Sprintf("the session's key expired at %s", exp.Local().Format(time.RFC1123)))
			return
		}
		t.Reset(time.Until(exp))
		select {
		case <-s.ctx.Done():
			return
		case <-s.kickExpiry:
		case <-t.C:
		}
	}
}

// reportLoop announces the data plane's UDP endpoints once it runs and
// again after each reconnect, so peers may reach this node directly.
func (s *session) reportLoop() {
	attempt := 0
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kickReport:
		}
		port := s.plane.ListenPort()
		if port == 0 {
			continue
		}
		if err := s.co.ctrl.Report(s.ctx, wire.Report{Endpoints: s.endpoints(port)}); err != nil {
			s.log.Info("send report", "err", err)
			d := s.co.backoff.Delay(attempt)
			attempt++
			time.AfterFunc(d, func() { kick(s.kickReport) })
			continue
		}
		attempt = 0
	}
}

// endpoints returns the UDP endpoints to announce: 127.0.0.1 for a
// loopback coordinator, else this machine's global unicast addresses
// outside the overlay.
func (s *session) endpoints(port uint16) []netip.AddrPort {
	if u, err := url.Parse(s.co.base); err == nil && isLoopbackHost(u.Hostname()) {
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)}
	}
	self := s.plane.Self()
	var out []netip.AddrPort
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		p, err := netip.ParsePrefix(ad.String())
		if err != nil || !p.Addr().IsGlobalUnicast() || tunnel.OverlayIPv4().Contains(p.Addr()) || sameULA(p.Addr(), self.IPv6) {
			continue
		}
		out = append(out, netip.AddrPortFrom(p.Addr(), port))
	}
	return out[:min(len(out), wire.MaxEndpoints)]
}

// sameULA reports whether a lies in the /48 of the overlay address v6.
func sameULA(a, v6 netip.Addr) bool {
	if !v6.IsValid() {
		return false
	}
	p, _ := v6.Prefix(48)
	return p.Contains(a)
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// waitFirstMap waits until the first full map was applied, ctx ends or d
// passes, and reports whether the map came.
func (s *session) waitFirstMap(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.firstMap:
		return true
	case <-ctx.Done():
	case <-s.ctx.Done():
	case <-t.C:
	}
	return false
}

// kick signals ch without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ control.MapHandler = (*session)(nil)
