package node

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// quiet discards the logs of the parts under test.
var quiet = slog.New(slog.DiscardHandler)

// failLog returns a debug logger whose output the test prints if it fails.
func failLog(t testing.TB, name string) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const (
	// noAnswer is how long a "gets nothing" check waits.
	noAnswer = 400 * time.Millisecond
	// deadline bounds waits for things that must happen.
	deadline = 10 * time.Second
	// handshakeWait bounds the wait for a first handshake: on a loaded
	// machine two handshakes may cross, and wireguard-go retries only
	// after 5 s (plus jitter), possibly more than once.
	handshakeWait = 30 * time.Second
)

// testNode is an Engine with its identity.
type testNode struct {
	e    *Engine
	self wire.Node
	priv wire.WGPrivate
}

// newTestNode starts an Engine named name with overlay addresses
// 100.64.0.N and fd7a:115c:a1e0::N, exposing ports, and applies a full map
// with no peers and rules, so its data plane runs.
func newTestNode(t testing.TB, n byte, name string, rules []filter.Rule, expose ...uint16) *testNode {
	t.Helper()
	return newTestNodeWith(t, n, name, rules, nil, expose...)
}

// newTestNodeWith is newTestNode with the Engine's config changed by tweak.
func newTestNodeWith(t testing.TB, n byte, name string, rules []filter.Rule, tweak func(*EngineConfig), expose ...uint16) *testNode {
	t.Helper()
	priv, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	cfg := EngineConfig{PrivateKey: priv, Expose: expose, Logger: failLog(t, name)}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	self := wire.Node{ID: wire.NodeID(n), Name: name, WGKey: priv.Public(),
		IPv4: netip.AddrFrom4([4]byte{100, 64, 0, n}), IPv6: netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 15: n})}
	if err := e.Apply(wire.MapResponse{Version: 1, Full: true, Self: &self, Filter: rules, FilterChanged: true}); err != nil {
		t.Fatalf("apply full map: %v", err)
	}
	if e.ListenPort() == 0 {
		t.Fatal("data plane has no listen port")
	}
	self.Endpoints = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), e.ListenPort())}
	return &testNode{e: e, self: self, priv: priv}
}

// peerOf returns n as a peer entry, with key expiry exp (zero: never).
func (n *testNode) peerOf(exp time.Time) wire.Node {
	p := n.self
	p.KeyExpiry = exp
	return p
}

// addPeers applies a delta adding peers to n.
func (n *testNode) addPeers(t testing.TB, version uint64, peers ...wire.Node) {
	t.Helper()
	if err := n.e.Apply(wire.MapResponse{Version: version, PeersChanged: peers}); err != nil {
		t.Fatalf("apply delta: %v", err)
	}
}

// allowFrom is a rule allowing src to reach dst on TCP and UDP ports.
func allowFrom(src, dst *testNode, ports ...uint16) filter.Rule {
	var prs []filter.PortRange
	for _, p := range ports {
		prs = append(prs, filter.PortRange{First: p, Last: p})
	}
	return filter.Rule{
		Src:    []netip.Prefix{netip.PrefixFrom(src.self.IPv4, 32), netip.PrefixFrom(src.self.IPv6, 128)},
		Dst:    []filter.DstNet{{Net: netip.PrefixFrom(dst.self.IPv4, 32), Ports: prs}, {Net: netip.PrefixFrom(dst.self.IPv6, 128), Ports: prs}},
		Protos: []filter.Proto{filter.ProtoTCP, filter.ProtoUDP},
	}
}

// startEchoServer runs a TCP echo server on 127.0.0.1 and returns its
// port. It stops when the test ends.
func startEchoServer(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(deadline))
				io.Copy(c, c)
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// freePort returns a port nothing listens on (its listener is closed).
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// roundTrip writes msg on c and reads it back.
func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// echoThrough dials peer:port from n and checks an echo round trip.
func echoThrough(n *testNode, peer string, port uint16, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := n.e.DialPeer(ctx, peer, port)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = roundTrip(c, "hello through ward")
	return err
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, deadline, what, cond)
}

// eventuallyWithin polls cond until it holds or d passes.
func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	stop := time.Now().Add(d)
	for !cond() {
		if time.Now().After(stop) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
