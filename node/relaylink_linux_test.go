package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// TestBusySendOnlyRelayConnectionNotRedialledOnLatePong: a node that only
// sends over its relay connection, through a link slower than its
// sending, has its check's ping wait behind seconds of queued bytes and
// nothing arriving: it must not be taken for dead while those bytes
// drain, and must be redialled once they stop draining (the relay gone
// silent). On Linux, where the relay's TCP acknowledgements can be read.
func TestBusySendOnlyRelayConnectionNotRedialledOnLatePong(t *testing.T) {
	signer, err := relay.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newTestKey(t).Public(), newTestKey(t).Public()
	srv := relay.NewServer(relay.Config{Verifier: relay.NewVerifier(signer.Public(), 0), Authorizer: peersOnly{a, b}})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	// b is connected (a's packets are relayed to it) but never reads.
	bc, err := relay.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), issue(t, signer, b), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	p := newThrottle(t, strings.TrimPrefix(hs.URL, "http://"), 32<<10)
	tokens := &countingTokens{signer: signer, key: a, url: "ws://" + p.addr() + "/"}
	l := newRelayLink(tokens, failLog(t, "a"))
	// Over loopback (64 KiB segments) the throttle's window opens, and
	// our bytes are acknowledged, every half second. The check's timeout
	// is the product's (3 s): a test's 1 s failed in CI on a loaded
	// machine, where an acknowledgement came late.
	l.pingTimeout = relayPingTimeout
	l.setRelays([]wire.Relay{{Name: "r", URL: "/"}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.run(ctx) })
	defer wg.Wait()
	defer cancel()
	waitUntil(t, l.connected)
	// Keep the queue full: the throttle carries 32 KiB/s, far less.
	wg.Go(func() {
		pkt := make([]byte, 1400)
		for ctx.Err() == nil {
			l.send(b, "r", pkt)
			time.Sleep(time.Millisecond)
		}
	})
	time.Sleep(time.Second) // every buffer on the way fills
	l.check()
	time.Sleep(4 * l.pingTimeout)
	if n := tokens.issued.Load(); n != 1 {
		t.Fatalf("a busy connection whose pong waited behind its bytes was redialled (%d dials)", n)
	}
	// The relay stops taking bytes: the connection is found dead.
	p.stall()
	time.Sleep(time.Second) // the buffers fill
	l.check()
	waitUntil(t, func() bool { return tokens.issued.Load() > 1 })
}

// TestMapStreamLossChecksRelayConnection: when the map stream breaks (a
// NAT rebinding cuts every TCP connection through it), the node pings its
// relay connection at once and redials it when it is dead, instead of
// finding out only when it next sends something: a listener whose peer's
// direct packets no longer arrive sends nothing, and its peer's relayed
// packets went into the dead connection (the rebind figure of e2e/nat was
// 12.6 s in 3 of 6 runs).
func TestMapStreamLossChecksRelayConnection(t *testing.T) {
	signer, err := relay.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	priv, other := newTestKey(t), newTestKey(t).Public()
	srv := relay.NewServer(relay.Config{Verifier: relay.NewVerifier(signer.Public(), 0), Authorizer: peersOnly{priv.Public(), other}})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	p := newThrottle(t, strings.TrimPrefix(hs.URL, "http://"), 1<<30)
	tokens := &countingTokens{signer: signer, key: priv.Public(), url: "ws://" + p.addr() + "/"}
	n := newTestNodeWith(t, 1, "node", nil, func(c *EngineConfig) { c.PrivateKey, c.Relays = priv, tokens })
	n.self.WGKey = priv.Public()
	if err := n.e.Apply(wire.MapResponse{Version: 2, Full: true, Self: &n.self, Relays: []wire.Relay{{Name: "r", URL: "/"}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, n.e.relay.connected)
	s := newSession(sessionConfig{engine: n.e, log: quiet})
	// The connection goes dead, and nothing tells the node. The proxy
	// stops only after the read it waits in: a packet ends that read,
	// and the relay's refusal of it says it got through.
	p.stall()
	n.e.relay.send(other, "r", make([]byte, 64))
	waitUntil(t, func() bool {
		n.e.relay.mu.Lock()
		defer n.e.relay.mu.Unlock()
		c := n.e.relay.conns["r"]
		return c != nil && c.frames.Load() > 0
	})
	s.SetConnected(false)
	waitUntil(t, func() bool { return tokens.issued.Load() > 1 })
}

// waitUntil waits up to 20 s for cond.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// peersOnly lets its two keys send to each other.
type peersOnly [2]wire.WGPublic

func (p peersOnly) MayRelay(from, to wire.WGPublic) bool {
	return from == p[0] && to == p[1] || from == p[1] && to == p[0]
}

func issue(t *testing.T, s *relay.Signer, k wire.WGPublic) string {
	now := time.Now()
	tok, err := s.Issue(relay.Claims{Key: k, Node: 1, IssuedAt: now, Expiry: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// countingTokens issues key's tokens for a relay at url and counts them
// (one per dial), dialling with a 16 KiB send buffer.
type countingTokens struct {
	signer *relay.Signer
	key    wire.WGPublic
	url    string
	issued atomic.Int32
}

func (c *countingTokens) RelayToken(context.Context) (wire.RelayTokenResponse, error) {
	c.issued.Add(1)
	now := time.Now()
	tok, err := c.signer.Issue(relay.Claims{Key: c.key, Node: 1, IssuedAt: now, Expiry: now.Add(5 * time.Minute)})
	return wire.RelayTokenResponse{Token: tok}, err
}
func (c *countingTokens) RelayURL(wire.Relay) (string, error) { return c.url, nil }
func (c *countingTokens) STUNAddr(context.Context, wire.Relay) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("no STUN here")
}
func (c *countingTokens) HTTPClient() *http.Client {
	d := &net.Dialer{Control: bufSize(syscall.SO_SNDBUF)}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// bufSize sets a socket's buffer opt to 16 KiB.
func bufSize(opt int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 16<<10) }); cerr != nil {
			return cerr
		}
		return err
	}
}

// throttle is a loopback TCP proxy to target carrying the client's bytes
// at rate bytes per second (receive buffers of 16 KiB), and nothing once
// stalled; the other way at full speed.
type throttle struct {
	ln      net.Listener
	target  string
	rate    int
	stalled atomic.Bool
	mu      sync.Mutex // mu guards conns
	conns   []net.Conn
}

func newThrottle(t *testing.T, target string, rate int) *throttle {
	lc := net.ListenConfig{Control: bufSize(syscall.SO_RCVBUF)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &throttle{ln: ln, target: target, rate: rate}
	var wg sync.WaitGroup
	wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *throttle) addr() string { return p.ln.Addr().String() }
func (p *throttle) stall()       { p.stalled.Store(true) }

func (p *throttle) accept() {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		wg.Go(func() { copyAll(c, up) })
		wg.Go(func() { p.slowCopy(up, c) })
	}
}

// slowCopy copies src to dst at p.rate, pausing while stalled.
func (p *throttle) slowCopy(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 1024)
	for {
		if p.stalled.Load() {
			time.Sleep(10 * time.Millisecond)
			if _, err := src.Read(nil); err != nil {
				return
			}
			continue
		}
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
		time.Sleep(time.Duration(n) * time.Second / time.Duration(p.rate))
	}
}

func copyAll(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
