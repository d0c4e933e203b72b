package node

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/wire"
)

// recordingRelay returns a relay link that counts as connected to its
// home relay and keeps what is sent to it in the returned channel.
func recordingRelay() (*relayLink, chan relayOut) {
	l := newRelayLink(nil, nil)
	r := wire.Relay{Name: "r"}
	c := &relayConn{relay: r, out: make(chan relayOut, 256), checkNow: make(chan struct{}, 1)}
	c.up.Store(true)
	l.relays[r.Name], l.names, l.home, l.conns[r.Name] = r, []string{r.Name}, r.Name, c
	l.up.Store(true)
	return l, c.out
}

// wgPacket is a stand-in WireGuard data packet (type 4): neither disco
// nor STUN, so the pathBind passes it to WireGuard.
func wgPacket() []byte {
	p := make([]byte, 100)
	p[0] = 4
	return p
}

// startForwarder plays the network (or an attacker on it) between two
// nodes on loopback: a sends to forA (b's address as a sees it) and b to
// forB; what pass lets through crosses, the rest is dropped.
func startForwarder(t *testing.T, a, b netip.AddrPort, pass func(fromA bool, pkt []byte) bool) (forA, forB netip.AddrPort) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sa, sb := listen(), listen()
	pump := func(from, to *net.UDPConn, dst netip.AddrPort, fromA bool) {
		buf := make([]byte, 2048)
		for {
			n, _, err := from.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if pass(fromA, buf[:n]) {
				to.WriteToUDPAddrPort(buf[:n], dst)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { pump(sa, sb, b, true) })
	wg.Go(func() { pump(sb, sa, a, false) })
	t.Cleanup(func() { sa.Close(); sb.Close(); wg.Wait() })
	return sa.LocalAddr().(*net.UDPAddr).AddrPort(), sb.LocalAddr().(*net.UDPAddr).AddrPort()
}

// forwardedPair starts two nodes (each with a relay link that counts as
// up) whose only UDP path to each other crosses a forwarder with pass,
// sending each other a WireGuard packet every 20 ms until the test ends,
// and waits until each has the direct path through the forwarder. It
// returns the nodes and the address a knows b by; before tune runs on
// a's bind.
func forwardedPair(t *testing.T, pass func(fromA bool, pkt []byte) bool, tune func(*pathBind)) (a, b *udpNode, aPriv, bPriv wire.WGPrivate, forA netip.AddrPort) {
	t.Helper()
	aPriv, bPriv = newTestKey(t), newTestKey(t)
	a, b = startUDPNode(t, aPriv, upRelay()), startUDPNode(t, bPriv, upRelay())
	tune(a.b)
	forA, forB := startForwarder(t, a.addr, b.addr, pass)
	a.b.setPeers(map[wire.WGPublic]peerRoute{bPriv.Public(): {eps: []netip.AddrPort{forA}}})
	b.b.setPeers(map[wire.WGPublic]peerRoute{aPriv.Public(): {eps: []netip.AddrPort{forB}}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	flow := func(n *udpNode, to wire.WGPublic) {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				n.b.Send([][]byte{wgPacket()}, peerEndpoint{key: to})
			}
		}
	}
	wg.Go(func() { flow(a, bPriv.Public()) })
	wg.Go(func() { flow(b, aPriv.Public()) })
	waitPath(t, "a's direct path through the forwarder", func() bool {
		p := a.b.path(bPriv.Public())
		return p.kind == "direct" && p.addr == forA && p.why == ""
	})
	waitPath(t, "b's direct path through the forwarder", func() bool {
		p := b.b.path(aPriv.Public())
		return p.kind == "direct" && p.addr == forB && p.why == ""
	})
	return a, b, aPriv, bPriv, forA
}

// TestQuietPathUnderTrafficFallsBackFast replays a TCP flow whose direct
// path dies (a NAT rebinding): nothing comes back after t0, and TCP
// retransmits at 0.2, 0.6 and 1.4 s. The path is probed at the first
// send after 500 ms of quiet, the path loop is asked to look again when
// that ping's grace ends, finds the path suspect then (and checks the
// relay), and the 1.4 s retransmission goes over the relay too: before,
// only a send 2 s after the last packet heard got the relay copy, so
// the flow waited for the 3 s one (and its relay connection was checked
// only then). A quiet path whose ping is answered stays direct alone.
func TestQuietPathUnderTrafficFallsBackFast(t *testing.T) {
	peer := newTestKey(t).Public()
	best := netip.MustParseAddrPort("127.0.0.1:9")
	b := newPathBind(conn.NewDefaultBind(), upRelay(), newTestKey(t), nil)
	b.setPeers(map[wire.WGPublic]peerRoute{peer: {eps: []netip.AddrPort{best}}})
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	b.mu.Lock()
	p := b.peers[peer]
	b.confirmLocked(p, best, 5*time.Millisecond, at(-20*time.Millisecond))
	p.heard = t0
	b.mu.Unlock()
	send := func(d time.Duration) bool {
		_, viaRelay, _, _ := b.plan(peer, at(d))
		return viaRelay
	}
	for _, d := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, 600 * time.Millisecond} {
		if send(d) {
			t.Fatalf("the send at %v got a relay copy: too early", d)
		}
	}
	due := b.tick(at(600 * time.Millisecond))
	if due.IsZero() || due.After(at(time.Second)) {
		t.Fatalf("after the probe the path loop looks again at %v after t0, want within 1 s", due.Sub(t0))
	}
	b.tick(due)
	b.mu.Lock()
	noted := p.silenceNoted
	b.mu.Unlock()
	if !noted {
		t.Error("the probe's grace ended unanswered and the silence was not acted on (relay checked, STUN asked)")
	}
	if !send(1400 * time.Millisecond) {
		t.Error("the retransmission 1.4 s into the silence got no relay copy")
	}

	// The same with the probe answered: direct alone.
	b.mu.Lock()
	b.confirmLocked(p, best, 5*time.Millisecond, at(1500*time.Millisecond))
	b.mu.Unlock()
	send(1520 * time.Millisecond)
	send(2100 * time.Millisecond) // quiet 600 ms: probed
	b.mu.Lock()
	b.confirmLocked(p, best, 5*time.Millisecond, at(2110*time.Millisecond))
	b.mu.Unlock()
	b.tick(at(2400 * time.Millisecond))
	if send(2500 * time.Millisecond) {
		t.Error("a quiet path whose probe was answered got a relay copy")
	}
}

// TestOneWayFailureFallsBack: the peer's packets keep arriving over the
// direct path but the node's no longer reach the peer (the forwarder
// drops that direction). Packets from the path used to keep it fresh for
// good, UDP alone; now freshness needs a pong, so the relay carries the
// node's packets too within about 2 s.
func TestOneWayFailureFallsBack(t *testing.T) {
	var cut atomic.Bool
	a, _, _, bPriv, _ := forwardedPair(t, func(fromA bool, _ []byte) bool { return !fromA || !cut.Load() }, func(*pathBind) {})
	cut.Store(true)
	waitPath(t, "a's packets to go over the relay too", func() bool {
		p := a.b.path(bPriv.Public())
		return p.kind == "relay" || p.why != ""
	})
	if _, viaRelay, _, _ := a.b.plan(bPriv.Public(), time.Now()); !viaRelay {
		t.Error("a's path is shown unconfirmed but its packets do not go over the relay")
	}
}

// TestUnconfirmedRoamedAddressGetsRelayCopy: WireGuard roamed a peer to
// an address the node knows as that peer's candidate but no pong
// confirmed; a send there goes to that address, over the relay as well,
// and pings it; once a pong confirms it, UDP alone.
func TestUnconfirmedRoamedAddressGetsRelayCopy(t *testing.T) {
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	roamed := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	rl, relayed := recordingRelay()
	n := startUDPNode(t, newTestKey(t), rl)
	peer := newTestKey(t).Public()
	n.b.setPeers(map[wire.WGPublic]peerRoute{peer: {id: 2}})
	n.b.mu.Lock()
	n.b.learnLocked(n.b.peers[peer], roamed, time.Now())
	n.b.mu.Unlock()
	data := []byte("roamed data")
	ep := &conn.StdNetEndpoint{AddrPort: roamed}
	if err := n.b.Send([][]byte{data}, ep); err != nil {
		t.Fatal(err)
	}
	gotCopy := false
	for len(relayed) > 0 {
		if o := <-relayed; o.to == peer && string(o.pkt) == string(data) {
			gotCopy = true
		}
	}
	if !gotCopy {
		t.Error("a send to the unconfirmed roamed address got no relay copy")
	}
	var gotData, gotPing bool
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for !gotData || !gotPing {
		m, _, err := dst.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("at the roamed address: data %v, ping %v: %v", gotData, gotPing, err)
		}
		gotData = gotData || string(buf[:m]) == string(data)
		gotPing = gotPing || disco.Is(buf[:m])
	}
	n.b.mu.Lock()
	n.b.confirmLocked(n.b.peers[peer], roamed, time.Millisecond, time.Now())
	n.b.mu.Unlock()
	if err := n.b.Send([][]byte{data}, ep); err != nil {
		t.Fatal(err)
	}
	for len(relayed) > 0 {
		if o := <-relayed; string(o.pkt) == string(data) {
			t.Error("a send to the confirmed address still went over the relay")
		}
	}
}

// TestDiscoOnlyDropperFailsDirectPath plays an on-path attacker that
// forwards disco packets (so pings are answered and the path looks
// fresh) and drops WireGuard's. The node keeps sending and gets no
// WireGuard packet back: it drops the direct path for the relay, and a
// pong from that address does not bring it back for the backoff period.
func TestDiscoOnlyDropperFailsDirectPath(t *testing.T) {
	var dropping atomic.Bool
	a, _, _, bPriv, forA := forwardedPair(t, func(_ bool, pkt []byte) bool { return !dropping.Load() || disco.Is(pkt) },
		func(b *pathBind) { b.dataSilence = time.Second })
	dropping.Store(true)
	waitPath(t, "a to drop the direct path that passes only disco", func() bool {
		return a.b.path(bPriv.Public()).kind == "relay"
	})
	a.b.mu.Lock()
	p := a.b.peers[bPriv.Public()]
	a.b.confirmLocked(p, forA, time.Millisecond, time.Now())
	back := p.best
	a.b.mu.Unlock()
	if back.IsValid() {
		t.Fatalf("a pong made the failed address %v the direct path again", back)
	}
	// Discovery rounds keep pinging it and its pongs keep coming: still
	// on the relay.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if p := a.b.path(bPriv.Public()); p.kind != "relay" {
			t.Fatalf("back on %s %v within the backoff period", p.kind, p.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQuietPathOnlyReceivingIsProbed: a node that only receives over its
// direct path (the listener of a flow, whose NAT just rebound) must find
// out too, though it sends nothing: its relay connection may have died
// with the NAT mapping, and the peer's relay copies need it. Between
// sends, the path loop pings the path once it is quiet for probeAfter
// and acts on the silence (checks the relay, asks STUN) when that ping's
// grace ends unanswered, even after the traffic is a second old.
func TestQuietPathOnlyReceivingIsProbed(t *testing.T) {
	peer := newTestKey(t).Public()
	best := netip.MustParseAddrPort("127.0.0.1:9")
	b := newPathBind(conn.NewDefaultBind(), upRelay(), newTestKey(t), nil)
	b.setPeers(map[wire.WGPublic]peerRoute{peer: {eps: []netip.AddrPort{best}}})
	t0 := time.Now()
	b.mu.Lock()
	p := b.peers[peer]
	b.confirmLocked(p, best, 5*time.Millisecond, t0.Add(-time.Second))
	p.heard, p.dataIn = t0, t0 // the last packet of the flow
	b.mu.Unlock()
	now := t0.Add(100 * time.Millisecond)
	for range 10 {
		due := b.tick(now)
		b.mu.Lock()
		noted := p.silenceNoted
		b.mu.Unlock()
		if noted {
			if d := now.Sub(t0); d > time.Second {
				t.Errorf("the silence was acted on %v after the last packet, want within 1 s", d)
			}
			return
		}
		if due.IsZero() {
			t.Fatalf("at %v the path loop was told nothing is due, and the silence was not acted on", now.Sub(t0))
		}
		now = due
	}
	t.Fatal("ten ticks and the silence was not acted on")
}
