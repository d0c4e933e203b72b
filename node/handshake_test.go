package node

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/wire"
)

func TestPeerStartKicks(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ep := netip.MustParseAddrPort("127.0.0.1:5000")
	ep2 := netip.MustParseAddrPort("127.0.0.1:5001")
	conf := func(endpoint netip.AddrPort, leads, keepalive bool) peerConf {
		return peerConf{id: 2, endpoint: endpoint, leads: leads, keepalive: keepalive}
	}
	tests := []struct {
		name       string
		start      peerStart
		have, next peerConf
		// at is when due is asked, after the change at t0.
		at   time.Duration
		want bool
	}{
		{"leader learns an endpoint", peerStart{}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, true},
		{"leader's endpoint changes", peerStart{}, conf(ep, true, true), conf(ep2, true, true), 0, true},
		{"follower learns an endpoint: not yet", peerStart{}, conf(netip.AddrPort{}, false, true), conf(ep, false, true), keepaliveDelay - time.Millisecond, false},
		{"follower learns an endpoint: after the delay", peerStart{}, conf(netip.AddrPort{}, false, true), conf(ep, false, true), keepaliveDelay, true},
		{"follower's keepalive turns on", peerStart{}, conf(ep, false, false), conf(ep, false, true), 0, true},
		{"follower's keepalive turns on without endpoint", peerStart{}, conf(netip.AddrPort{}, false, false), conf(netip.AddrPort{}, false, true), 0, false},
		{"nothing changes", peerStart{}, conf(ep, true, true), conf(ep, true, true), 0, false},
		{"endpoint dropped", peerStart{}, conf(ep, true, true), conf(netip.AddrPort{}, true, true), 0, false},
		{"same endpoint kicked just before", peerStart{kicked: t0.Add(-time.Second), kickedTo: ep}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, false},
		{"same endpoint kicked long before", peerStart{kicked: t0.Add(-device.RekeyTimeout), kickedTo: ep}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, true},
		{"other endpoint kicked just before", peerStart{kicked: t0.Add(-time.Second), kickedTo: ep2}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, true},
		{"endpoint arrives during a relayed attempt", peerStart{kicked: t0.Add(-time.Second), relayed: true}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, false},
		{"endpoint changes during a relayed attempt", peerStart{kicked: t0.Add(-time.Second), kickedTo: ep2, relayed: true}, conf(ep2, true, true), conf(ep, true, true), 0, false},
		{"endpoint arrives after a relayed attempt ran out", peerStart{kicked: t0.Add(-device.RekeyTimeout), relayed: true}, conf(netip.AddrPort{}, true, true), conf(ep, true, true), 0, true},
	}
	for _, tt := range tests {
		s := tt.start
		s.schedule(tt.have, tt.next, t0)
		if got := s.due(tt.next, t0.Add(tt.at)); got != tt.want {
			t.Errorf("%s: due = %v, want %v", tt.name, got, tt.want)
		}
		if tt.want && s.due(tt.next, t0.Add(tt.at)) {
			t.Errorf("%s: the same kick is due twice", tt.name)
		}
	}
}

func TestPeerDiffRecreatesKickedPeer(t *testing.T) {
	var k wire.WGPublic
	k[0] = 1
	ep := netip.MustParseAddrPort("127.0.0.1:5000")
	allowed := []netip.Prefix{netip.MustParsePrefix("100.64.0.2/32")}
	have := map[wire.WGPublic]peerConf{k: {id: 2, allowed: allowed, leads: true, keepalive: true}}
	want := map[wire.WGPublic]peerConf{k: {id: 2, allowed: allowed, endpoint: ep, leads: true, keepalive: true}}
	h := k.Hex()
	// In place: the endpoint is the pathBind's business (the peer's
	// endpoint stays its key).
	inPlace := "public_key=" + h + "\nreplace_allowed_ips=true\nallowed_ip=100.64.0.2/32\n"
	if got := peerDiff(have, want, nil, false); got != inPlace {
		t.Errorf("in place:\n%s\nwant:\n%s", got, inPlace)
	}
	recreated := "public_key=" + h + "\nremove=true\npublic_key=" + h + "\npersistent_keepalive_interval=25\n" +
		"endpoint=" + peerEndpoint{key: k}.DstToString() + "\nreplace_allowed_ips=true\nallowed_ip=100.64.0.2/32\n"
	if got := peerDiff(have, want, map[wire.WGPublic]bool{k: true}, false); got != recreated {
		t.Errorf("kicked:\n%s\nwant:\n%s", got, recreated)
	}
}

// TestFirstHandshakeWhenEndpointArrivesLate pins the slow first contact of
// a joining device: a peer's endpoint arriving after the peer left the
// pair waiting for wireguard-go's 5 s handshake retry. Each case plays one
// order of events; the handshake must follow the last event without that
// retry (the time is logged, not asserted).
func TestFirstHandshakeWhenEndpointArrivesLate(t *testing.T) {
	tests := []struct {
		name string
		// play applies the events to leader l and follower f and returns
		// when the last one happened.
		play func(t *testing.T, l, f *testNode) time.Time
		// leaderKicks tells that the leader must have kicked when play
		// returns (its kick is synchronous).
		leaderKicks bool
	}{
		{"leader learns the endpoint last", func(t *testing.T, l, f *testNode) time.Time {
			l.addPeers(t, 2, withoutEndpoint(f))
			f.addPeers(t, 2, withoutEndpoint(l))
			start := time.Now()
			l.addPeers(t, 3, f.peerOf(time.Time{}))
			return start
		}, true},
		{"follower learns the endpoint last", func(t *testing.T, l, f *testNode) time.Time {
			// The leader's attempts go nowhere: only the follower's kick
			// can make the handshake.
			l.addPeers(t, 2, withDeadEndpoint(t, f))
			f.addPeers(t, 2, withoutEndpoint(l))
			start := time.Now()
			f.addPeers(t, 3, l.peerOf(time.Time{}))
			return start
		}, false},
		{"both learn the endpoints at once", func(t *testing.T, l, f *testNode) time.Time {
			l.addPeers(t, 2, withoutEndpoint(f))
			f.addPeers(t, 2, withoutEndpoint(l))
			start := time.Now()
			l.addPeers(t, 3, f.peerOf(time.Time{}))
			f.addPeers(t, 3, l.peerOf(time.Time{}))
			return start
		}, true},
		{"leader had a dead endpoint", func(t *testing.T, l, f *testNode) time.Time {
			l.addPeers(t, 2, withDeadEndpoint(t, f))
			f.addPeers(t, 2, withoutEndpoint(l))
			start := time.Now()
			l.addPeers(t, 3, f.peerOf(time.Time{}))
			return start
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, f := leaderFirst(newTestNode(t, 1, "one", nil), newTestNode(t, 2, "two", nil))
			start := tt.play(t, l, f)
			if got := kickedTo(l.e, f.self.WGKey); tt.leaderKicks && got != f.self.Endpoints[0] {
				t.Errorf("leader's last handshake start went to %v, want %v", got, f.self.Endpoints[0])
			}
			eventuallyWithin(t, handshakeWait, "handshake", func() bool { return handshaken(l) || handshaken(f) })
			t.Logf("handshake %v after the last event (leader kicked to %v, follower to %v)", time.Since(start).Round(time.Millisecond),
				kickedTo(l.e, f.self.WGKey), kickedTo(f.e, l.self.WGKey))
		})
	}
}

// withoutEndpoint returns n as a peer entry without endpoints.
func withoutEndpoint(n *testNode) wire.Node {
	p := n.peerOf(time.Time{})
	p.Endpoints = nil
	return p
}

// withDeadEndpoint returns n as a peer entry with an endpoint where
// nothing listens.
func withDeadEndpoint(t *testing.T, n *testNode) wire.Node {
	p := withoutEndpoint(n)
	p.Endpoints = []netip.AddrPort{deadUDP(t)}
	return p
}

// leaderFirst orders a and b as (leader, follower) by the key rule.
func leaderFirst(a, b *testNode) (*testNode, *testNode) {
	if bytes.Compare(a.self.WGKey[:], b.self.WGKey[:]) > 0 {
		return a, b
	}
	return b, a
}

// deadUDP returns a loopback UDP address nothing listens on.
func deadUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// kickedTo returns where e last made the device start a handshake with k.
func kickedTo(e *Engine, k wire.WGPublic) netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts[k].kickedTo
}

// handshaken reports whether n has completed a handshake with a peer.
func handshaken(n *testNode) bool {
	for _, p := range n.e.Status().Peers {
		if !p.LastHandshake.IsZero() {
			return true
		}
	}
	return false
}

// TestRelayedFirstAttemptIsNotKicked: a peer added with the keepalive on
// while the relay is connected starts an attempt even without an
// endpoint (it goes over the relay), so the endpoint that arrives next
// does not re-create the peer, which would drop the packets queued for
// the session (a new connection's SYN); without the relay, an attempt
// needs an endpoint.
func TestRelayedFirstAttemptIsNotKicked(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ep := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, relayed := range []bool{true, false} {
		var s peerStart
		added := peerConf{id: 2, leads: true, keepalive: true}
		s.noteAdded(added, true, relayed, t0)
		withEP := added
		withEP.endpoint = ep
		s.schedule(added, withEP, t0.Add(50*time.Millisecond))
		if got := s.due(withEP, t0.Add(50*time.Millisecond)); got == relayed {
			t.Errorf("relay connected %v: kick due %v when the endpoint arrives, want %v", relayed, got, !relayed)
		}
	}
}
