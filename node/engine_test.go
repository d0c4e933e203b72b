package node

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// pair is camera a (exposing an echo server on open and one on closed)
// and operator b, peers of each other; a's filter lets b reach only open.
type pair struct {
	a, b         *testNode
	open, closed uint16
}

// flowBeforeRotation opens a flow from b to a's open port, echoes once
// on it, and returns it (closed when the test ends) with a new key for a.
func (p *pair) flowBeforeRotation(t *testing.T) (net.Conn, wire.WGPrivate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	c, err := p.b.e.DialPeer(ctx, "cam", p.open)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := roundTrip(c, "before"); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	next, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return c, next
}

func newPair(t *testing.T, expiryOfA time.Time) *pair {
	t.Helper()
	open, closed := startEchoServer(t), startEchoServer(t)
	b := newTestNode(t, 2, "op", nil)
	a := newTestNode(t, 1, "cam", nil, open, closed)
	if err := a.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(b, a, open)}}); err != nil {
		t.Fatal(err)
	}
	a.addPeers(t, 3, b.peerOf(time.Time{}))
	b.addPeers(t, 2, a.peerOf(expiryOfA))
	// The engines handshake by themselves (keepalive); wait for it so no
	// test flow races the handshake.
	eventuallyWithin(t, handshakeWait, "handshake", func() bool {
		st := b.e.Status()
		return len(st.Peers) == 1 && !st.Peers[0].LastHandshake.IsZero()
	})
	return &pair{a: a, b: b, open: open, closed: closed}
}

func TestEngineFlows(t *testing.T) {
	p := newPair(t, time.Time{})
	tests := []struct {
		name    string
		peer    string
		port    uint16
		wantErr bool
	}{
		{"allowed port by name", "cam", p.open, false},
		{"allowed port by ipv4", p.a.self.IPv4.String(), p.open, false},
		{"allowed port by ipv6", p.a.self.IPv6.String(), p.open, false},
		{"exposed but denied port", "cam", p.closed, true},
		{"unexposed port", "cam", freePort(t), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait := deadline
			if tt.wantErr {
				wait = noAnswer
			}
			err := echoThrough(p.b, tt.peer, tt.port, wait)
			if (err != nil) != tt.wantErr {
				t.Fatalf("echo through %s:%d: err = %v, want error %v", tt.peer, tt.port, err, tt.wantErr)
			}
		})
	}
	st := p.a.e.Status()
	if st.Filter.Denied == 0 || st.Filter.Allowed == 0 {
		t.Errorf("filter stats %+v: want allowed and denied flows counted", st.Filter)
	}
	denied := p.a.e.denied.take(wire.MaxDeniedPerReport)
	found := false
	for _, d := range denied {
		if d.Src == p.b.self.IPv4 && d.Port == p.closed && d.Proto == filter.ProtoTCP && d.Count >= 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("denied flows %+v: want one from %v to port %d", denied, p.b.self.IPv4, p.closed)
	}
}

func TestEngineStatusAndPing(t *testing.T) {
	p := newPair(t, time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	res, err := p.b.e.Ping(ctx, "cam")
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	if res.RTT <= 0 || res.Addr != p.a.self.IPv4 || res.Path != "direct" {
		t.Errorf("ping result %+v", res)
	}
	st := p.b.e.Status()
	if st.Self.Name != "op" || st.Self.ListenPort == 0 || len(st.Peers) != 1 {
		t.Fatalf("status %+v", st)
	}
	peer := st.Peers[0]
	if peer.Name != "cam" || !peer.Active || peer.LastHandshake.IsZero() || peer.RxBytes == 0 || peer.TxBytes == 0 || peer.Path != "direct" {
		t.Errorf("peer status %+v", peer)
	}
	if _, err := p.b.e.Ping(ctx, "nobody"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("ping unknown peer: %v", err)
	}
}

func TestEngineRemovedPeerIsCut(t *testing.T) {
	p := newPair(t, time.Time{})
	if err := echoThrough(p.b, "cam", p.open, deadline); err != nil {
		t.Fatalf("before removal: %v", err)
	}
	if err := p.a.e.Apply(wire.MapResponse{Version: 4, PeersRemoved: []wire.NodeID{p.b.self.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := echoThrough(p.b, "cam", p.open, noAnswer); err == nil {
		t.Fatal("flow passed after the camera removed the operator")
	}
	if st := p.a.e.Status(); len(st.Peers) != 0 {
		t.Errorf("camera still lists peers %+v", st.Peers)
	}
}

func TestEngineDropsExpiredPeer(t *testing.T) {
	p := newPair(t, time.Time{})
	if err := echoThrough(p.b, "cam", p.open, deadline); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	// A delta gives the camera's key a short life.
	p.b.addPeers(t, 3, p.a.peerOf(time.Now().Add(time.Second)))
	// Nothing else is applied: the engine's own timer must act.
	eventually(t, "expired peer dropped", func() bool {
		st := p.b.e.Status()
		return len(st.Peers) == 1 && !st.Peers[0].Active
	})
	if _, err := p.b.e.DialPeer(context.Background(), "cam", p.open); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("dial expired peer: err = %v, want ErrUnknownPeer", err)
	}
	if err := echoThrough(p.b, p.a.self.IPv4.String(), p.open, noAnswer); err == nil {
		t.Error("flow to expired peer passed")
	}
}

func TestEngineApplyRejects(t *testing.T) {
	priv, _ := wire.NewWGPrivate()
	e, err := NewEngine(EngineConfig{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := newTestNode(t, 7, "x", nil)
	self := n.self
	dup := n.self
	dup.ID = 9
	tests := []struct {
		name string
		m    wire.MapResponse
		want error
	}{
		{"delta first", wire.MapResponse{Version: 1, PeersRemoved: []wire.NodeID{3}}, ErrNoBase},
		{"full without self", wire.MapResponse{Version: 1, Full: true}, ErrBadMap},
		{"peer without key", wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, IPv4: n.self.IPv4.Next()}, Peers: []wire.Node{{ID: 2, IPv4: n.self.IPv4}}}, ErrBadMap},
		{"two peers one address", wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, IPv4: n.self.IPv4.Next()}, Peers: []wire.Node{self, dup}}, ErrBadMap},
		{"bad rule", wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, IPv4: n.self.IPv4.Next()}, Filter: []filter.Rule{{}}}, ErrBadMap},
		{"reversed grant", wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, IPv4: n.self.IPv4.Next()}, Peers: []wire.Node{func() wire.Node {
			p := self
			p.Grants = []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 90, Last: 80}}}}
			return p
		}()}}, ErrBadMap},
	}
	for _, tt := range tests {
		if err := e.Apply(tt.m); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if e.ListenPort() != 0 || e.MapVersion() != 0 {
		t.Error("a rejected map started the data plane")
	}
}

func TestEngineKeyRotationKeepsFlow(t *testing.T) {
	p := newPair(t, time.Time{})
	c, next := p.flowBeforeRotation(t)
	// The coordinator tells the peers first, then the node switches.
	rotated := p.a.peerOf(time.Time{})
	rotated.WGKey = next.Public()
	p.b.addPeers(t, 3, rotated)
	if err := p.a.e.SetPrivateKey(next); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"after", "and again"} {
		if got, err := roundTrip(c, msg); err != nil || got != msg {
			t.Fatalf("after rotation: %q, %v", got, err)
		}
	}
	if p.a.e.PublicKey() != next.Public() {
		t.Error("engine reports the old key")
	}
}

// TestApplyFullMapChangingOwnAddressesDoesNotDeadlock pins a deadlock: a
// full map that changes the node's own addresses restarts the data plane,
// and closing the old one waited, with the Engine's lock held, for its
// ping echo's watcher goroutine, which only ended with the Engine. Apply,
// Status and the expiry timer then stalled for good. The node must come
// back on its new addresses, its peers reachable, and stay responsive.
func TestApplyFullMapChangingOwnAddressesDoesNotDeadlock(t *testing.T) {
	p := newPair(t, time.Time{})
	self := p.a.self
	self.IPv4 = netip.MustParseAddr("100.64.0.11")
	self.IPv6 = netip.MustParseAddr("fd7a:115c:a1e0::11")
	done := make(chan error, 1)
	go func() {
		done <- p.a.e.Apply(wire.MapResponse{Version: 10, Full: true, Self: &self, Peers: []wire.Node{p.b.peerOf(time.Time{})},
			Filter: []filter.Rule{allowFrom(p.b, &testNode{self: self}, p.open)}, FilterChanged: true})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Apply of a full map with new own addresses did not return: deadlock")
	}
	status := make(chan localapi.Status, 1)
	go func() { status <- p.a.e.Status() }()
	select {
	case st := <-status:
		if st.Self.IPv4 != self.IPv4 || st.Self.ListenPort == 0 {
			t.Fatalf("status after the address change: %+v", st.Self)
		}
	case <-time.After(deadline):
		t.Fatal("Status did not return after the address change")
	}
	moved := self
	moved.Endpoints = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p.a.e.ListenPort())}
	p.b.addPeers(t, 10, moved)
	eventuallyWithin(t, handshakeWait, "echo to the new address", func() bool {
		return echoThrough(p.b, self.IPv4.String(), p.open, time.Second) == nil
	})
}
