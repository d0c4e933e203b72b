package node

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/stunserver"
	"github.com/wardnet/ward/wire"
)

func newTestKey(t *testing.T) wire.WGPrivate {
	t.Helper()
	k, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// upRelay returns a relay link that counts as connected and queues what
// is sent to it.
func upRelay() *relayLink {
	l := newRelayLink(nil, nil)
	l.up.Store(true)
	return l
}

// TestPeerEndpointRoundTrip: the UAPI form of a peer endpoint parses back
// to the same key; a bad key is refused; every new peer gets one.
func TestPeerEndpointRoundTrip(t *testing.T) {
	k := wire.WGPublic{7, 8, 9}
	b := newPathBind(conn.NewDefaultBind(), nil, newTestKey(t), nil)
	s := peerEndpoint{key: k}.DstToString()
	ep, err := b.ParseEndpoint(s)
	if err != nil || ep.(peerEndpoint).key != k {
		t.Fatalf("ParseEndpoint(%q) = %v, %v", s, ep, err)
	}
	if _, err := b.ParseEndpoint(peerEndpointPrefix + "zz"); err == nil {
		t.Error("a bad peer key parsed")
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("100.64.0.2/32")}
	want := "public_key=" + k.Hex() + "\npersistent_keepalive_interval=0\nendpoint=" + s + "\nreplace_allowed_ips=true\nallowed_ip=100.64.0.2/32\n"
	if got := peerDiff(nil, map[wire.WGPublic]peerConf{k: {id: 2, allowed: allowed}}, nil, false); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestPathPlan: where a packet to a peer goes in each state of its path.
func TestPathPlan(t *testing.T) {
	now := time.Now()
	peer := newTestKey(t).Public()
	mapEP := netip.MustParseAddrPort("192.168.1.2:4000")
	best := netip.MustParseAddrPort("10.1.0.2:4000")
	tests := []struct {
		name      string
		relay     bool
		setup     func(p *peerPath)
		wantUDP   netip.AddrPort
		wantRelay bool
		wantPing  bool // a ping to best goes along
	}{
		{"new peer, relay up: relay and the first map endpoint", true, func(p *peerPath) {}, mapEP, true, false},
		{"new peer, no relay: the first map endpoint", false, func(p *peerPath) {}, mapEP, false, false},
		{"discovery failed for a while: relay alone", true, func(p *peerPath) {
			p.discoverWait, p.nextDiscovery = discoverMax, now.Add(time.Hour)
		}, netip.AddrPort{}, true, false},
		{"working direct path: UDP alone", true, func(p *peerPath) { p.best, p.heard, p.ponged = best, now, now }, best, false, false},
		{"last pong a second old: UDP with a ping", true, func(p *peerPath) {
			p.best, p.heard, p.ponged = best, now, now.Add(-trustPingEvery)
		}, best, false, true},
		{"direct path silent: UDP, relay and a ping", true, func(p *peerPath) {
			p.best, p.heard, p.ponged = best, now.Add(-freshFor), now.Add(-freshFor)
		}, best, true, true},
		{"packets arrive but no pong for 2 s: UDP, relay and a ping", true, func(p *peerPath) {
			p.best, p.heard, p.ponged = best, now, now.Add(-freshFor)
		}, best, true, true},
		{"sent to and quiet, a ping unanswered: UDP, relay and a ping", true, func(p *peerPath) {
			p.best, p.heard, p.ponged = best, now.Add(-time.Second), now.Add(-time.Second)
			p.outSinceHeard, p.lastOut, p.probeAt = now.Add(-900*time.Millisecond), now.Add(-100*time.Millisecond), now.Add(-pingEvery)
			p.pinged[best] = p.probeAt
		}, best, true, true},
		{"the peer relays after the path went quiet: UDP, relay and a ping", true, func(p *peerPath) {
			p.best, p.heard, p.ponged, p.relayedIn = best, now.Add(-time.Second), now.Add(-time.Second), now
		}, best, true, true},
		{"direct path dead: relay, and discovery starts over", true, func(p *peerPath) {
			p.best, p.heard, p.unanswered = best, now.Add(-time.Minute), deadPings
		}, mapEP, true, false},
		{"direct path dead, no relay: the lost path still", false, func(p *peerPath) {
			p.best, p.heard, p.unanswered = best, now.Add(-time.Minute), deadPings
		}, best, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rl *relayLink
			if tt.relay {
				rl = upRelay()
			}
			b := newPathBind(conn.NewDefaultBind(), rl, newTestKey(t), nil)
			b.setPeers(map[wire.WGPublic]peerRoute{peer: {eps: []netip.AddrPort{mapEP}}})
			tt.setup(b.peers[peer])
			udp, viaRelay, _, out := b.plan(peer, now)
			var gotUDP netip.AddrPort
			if udp != nil {
				gotUDP = addrOf(udp)
			}
			pinged := false
			for _, o := range out {
				if o.to != nil && addrOf(o.to) == best {
					pinged = true
				}
			}
			if gotUDP != tt.wantUDP || viaRelay != tt.wantRelay || pinged != tt.wantPing {
				t.Errorf("plan = udp %v, relay %v, ping to best %v; want %v, %v, %v", gotUDP, viaRelay, pinged, tt.wantUDP, tt.wantRelay, tt.wantPing)
			}
		})
	}
}

// udpNode is a pathBind on a real loopback UDP socket whose receive
// functions run until the test ends; what wireguard-go would get is
// counted.
type udpNode struct {
	b    *pathBind
	addr netip.AddrPort
	mu   sync.Mutex
	wg   int // WireGuard packets passed on
}

func startUDPNode(t *testing.T, priv wire.WGPrivate, rl *relayLink) *udpNode {
	t.Helper()
	n := &udpNode{b: newPathBind(conn.NewStdNetBind(), rl, priv, nil)}
	fns, port, err := n.b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	n.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() {
			bufs := make([][]byte, n.b.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 1500)
			}
			sizes := make([]int, len(bufs))
			eps := make([]conn.Endpoint, len(bufs))
			for {
				c, err := fn(bufs, sizes, eps)
				if err != nil {
					return
				}
				n.mu.Lock()
				for _, s := range sizes[:c] {
					if s > 0 {
						n.wg++
					}
				}
				n.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { n.b.Close(); wg.Wait() })
	return n
}

func (n *udpNode) wireguardPackets() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wg
}

func waitPath(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDiscoFindsDirectPath: a sends to b, which knows no address of a;
// a's pings to b's map endpoint make both sides confirm the direct path
// (b learns a's address from the ping and pings back), and no disco
// packet reaches WireGuard.
func TestDiscoFindsDirectPath(t *testing.T) {
	aPriv, bPriv := newTestKey(t), newTestKey(t)
	a, b := startUDPNode(t, aPriv, nil), startUDPNode(t, bPriv, nil)
	a.b.setPeers(map[wire.WGPublic]peerRoute{bPriv.Public(): {eps: []netip.AddrPort{b.addr}}})
	b.b.setPeers(map[wire.WGPublic]peerRoute{aPriv.Public(): {}})
	if err := a.b.Send([][]byte{make([]byte, 100)}, peerEndpoint{key: bPriv.Public()}); err != nil {
		t.Fatal(err)
	}
	waitPath(t, "a's direct path to b", func() bool {
		p := a.b.path(bPriv.Public())
		return p.kind == "direct" && p.addr == b.addr && p.why == ""
	})
	waitPath(t, "b's direct path to a", func() bool {
		p := b.b.path(aPriv.Public())
		return p.kind == "direct" && p.addr == a.addr && p.why == ""
	})
	if n := b.wireguardPackets(); n != 1 {
		t.Errorf("b passed %d packets to WireGuard, want the one data packet", n)
	}
	if n := a.wireguardPackets(); n != 0 {
		t.Errorf("a passed %d packets to WireGuard, want none (all were disco)", n)
	}
}

// TestDiscoIgnoresStrangersAndForgedPongs plays an attacker with UDP
// access to a node: a ping from a key that is not a peer gets no pong; a
// pong for a transaction never sent, and a peer's genuine pong replayed
// from another address, make no direct path.
func TestDiscoIgnoresStrangersAndForgedPongs(t *testing.T) {
	vPriv, peerPriv, strangerPriv := newTestKey(t), newTestKey(t), newTestKey(t)
	victim := startUDPNode(t, vPriv, nil)
	victim.b.setPeers(map[wire.WGPublic]peerRoute{peerPriv.Public(): {eps: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}})
	atk, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer atk.Close()
	send := func(priv wire.WGPrivate, m disco.Message) {
		k, _ := disco.SharedKey(priv, vPriv.Public())
		pkt, _ := disco.Seal(k, priv.Public(), m)
		if _, err := atk.WriteToUDPAddrPort(pkt, victim.addr); err != nil {
			t.Fatal(err)
		}
	}
	send(strangerPriv, disco.Message{Type: disco.TypePing, TxID: disco.NewTxID()})
	atk.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := atk.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
		t.Fatalf("a stranger's ping got %d bytes back", n)
	}
	send(peerPriv, disco.Message{Type: disco.TypePong, TxID: disco.NewTxID(), Src: victim.addr})
	// The victim pings its peer's map endpoint; the attacker answers that
	// ping's transaction from its own address (it cannot see the ping,
	// so it guesses: the transaction id is random and this must fail).
	victim.b.Send([][]byte{make([]byte, 10)}, peerEndpoint{key: peerPriv.Public()})
	time.Sleep(100 * time.Millisecond)
	if p := victim.b.path(peerPriv.Public()); p.addr.IsValid() && p.why == "" {
		t.Fatalf("forged pongs gave a direct path: %+v", p)
	}
	if n := victim.wireguardPackets(); n != 0 {
		t.Errorf("%d disco packets reached WireGuard", n)
	}
}

// TestSTUNOnWireGuardSocketFindsReflexiveAddress: the pathBind asks a
// real STUN server from the WireGuard socket and learns the address the
// server saw (on loopback, the socket's own), and tells the Engine.
func TestSTUNOnWireGuardSocketFindsReflexiveAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go stunserver.New(nil).Serve(ctx, pc)
	n := startUDPNode(t, newTestKey(t), nil)
	told := make(chan netip.AddrPort, 1)
	n.b.onReflexive = func(a netip.AddrPort) { told <- a }
	n.b.setSTUN([]netip.AddrPort{netip.MustParseAddrPort(pc.LocalAddr().String())})
	n.b.tick(time.Now())
	select {
	case a := <-told:
		if a != n.addr || n.b.Reflexive() != n.addr {
			t.Fatalf("reflexive %v (Reflexive() %v), want %v", a, n.b.Reflexive(), n.addr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reflexive address learned")
	}
	if c := n.wireguardPackets(); c != 0 {
		t.Errorf("%d STUN packets reached WireGuard", c)
	}
}

// TestRelayedCallMeMaybeStartsPings: a call-me-maybe that arrives over
// the relay makes the receiver ping every address it names at once (the
// other half of a simultaneous open).
func TestRelayedCallMeMaybeStartsPings(t *testing.T) {
	aPriv, bPriv := newTestKey(t), newTestKey(t)
	a := startUDPNode(t, aPriv, upRelay())
	b := startUDPNode(t, bPriv, nil)
	a.b.setPeers(map[wire.WGPublic]peerRoute{bPriv.Public(): {}})
	b.b.setPeers(map[wire.WGPublic]peerRoute{aPriv.Public(): {}})
	k, _ := disco.SharedKey(bPriv, aPriv.Public())
	cmm, _ := disco.Seal(k, bPriv.Public(), disco.Message{Type: disco.TypeCallMeMaybe, Endpoints: []netip.AddrPort{b.addr}})
	a.b.mu.Lock()
	out := a.b.handleDiscoLocked(cmm, netip.AddrPort{}, nil, time.Now(), nil)
	a.b.mu.Unlock()
	a.b.sendAll(out)
	waitPath(t, "a's direct path to b", func() bool {
		p := a.b.path(bPriv.Public())
		return p.kind == "direct" && p.addr == b.addr && p.why == ""
	})
}

// TestSendFollowsRotatedKey: after a peer's key rotation, a Send to an
// endpoint that still names the old key (wireguard-go roamed to it from a
// packet relayed under the old key) goes to the node's new key's path
// instead of failing, and the old key's confirmed address is forgotten.
func TestSendFollowsRotatedKey(t *testing.T) {
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ep := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	n := startUDPNode(t, newTestKey(t), nil)
	oldKey, newKey := newTestKey(t).Public(), newTestKey(t).Public()
	n.b.setPeers(map[wire.WGPublic]peerRoute{oldKey: {id: 5, eps: []netip.AddrPort{ep}}})
	n.b.mu.Lock()
	n.b.confirmLocked(n.b.peers[oldKey], ep, time.Millisecond, time.Now())
	n.b.mu.Unlock()
	n.b.setPeers(map[wire.WGPublic]peerRoute{newKey: {id: 5, eps: []netip.AddrPort{ep}}})
	if k, ok := n.b.peerFor(&conn.StdNetEndpoint{AddrPort: ep}); ok {
		t.Errorf("the old key's confirmed address still routes to %s", k.ShortString())
	}
	if err := n.b.Send([][]byte{[]byte("after rotation")}, peerEndpoint{key: oldKey}); err != nil {
		t.Fatalf("send to the old key's endpoint: %v", err)
	}
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		m, _, err := dst.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("nothing arrived at the new key's path: %v", err)
		}
		if string(buf[:m]) == "after rotation" {
			return
		}
	}
}

// TestCallMeMaybeFloodIsPaced: a peer sending call-me-maybes back to back
// (each naming new addresses) gets one taken per second: it cannot make
// the node ping addresses of its choosing at its own pace.
func TestCallMeMaybeFloodIsPaced(t *testing.T) {
	aPriv, bPriv := newTestKey(t), newTestKey(t)
	a := newPathBind(conn.NewDefaultBind(), upRelay(), aPriv, nil)
	a.setPeers(map[wire.WGPublic]peerRoute{bPriv.Public(): {}})
	k, _ := disco.SharedKey(bPriv, aPriv.Public())
	now := time.Now()
	pings := 0
	for i := range 10 {
		ep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 4000)
		cmm, _ := disco.Seal(k, bPriv.Public(), disco.Message{Type: disco.TypeCallMeMaybe, Endpoints: []netip.AddrPort{ep}})
		a.mu.Lock()
		pings += len(a.handleDiscoLocked(cmm, netip.AddrPort{}, nil, now.Add(time.Duration(i)*10*time.Millisecond), nil))
		a.mu.Unlock()
	}
	if pings != 1 {
		t.Errorf("10 call-me-maybes within 100 ms made %d pings, want 1", pings)
	}
}

// TestReplayedPingGetsNoPong plays an attacker who captured a peer's
// ping: replayed to the node (from the same or another address) it gets
// no pong and teaches the node no address; and a call-me-maybe naming
// multicast, unspecified or link-local addresses teaches it none.
func TestReplayedPingGetsNoPong(t *testing.T) {
	vPriv, peerPriv := newTestKey(t), newTestKey(t)
	v := newPathBind(conn.NewDefaultBind(), nil, vPriv, nil)
	v.setPeers(map[wire.WGPublic]peerRoute{peerPriv.Public(): {}})
	k, _ := disco.SharedKey(peerPriv, vPriv.Public())
	ping, _ := disco.Seal(k, peerPriv.Public(), disco.Message{Type: disco.TypePing, TxID: disco.NewTxID()})
	src := netip.MustParseAddrPort("192.0.2.7:4000")
	ep := &conn.StdNetEndpoint{AddrPort: src}
	now := time.Now()
	v.mu.Lock()
	first := v.handleDiscoLocked(ping, src, ep, now, nil)
	other := netip.MustParseAddrPort("198.51.100.9:5000")
	again := v.handleDiscoLocked(ping, other, &conn.StdNetEndpoint{AddrPort: other}, now.Add(5*time.Minute), nil)
	cmm, _ := disco.Seal(k, peerPriv.Public(), disco.Message{Type: disco.TypeCallMeMaybe, Endpoints: []netip.AddrPort{
		netip.MustParseAddrPort("224.0.0.1:4000"), netip.MustParseAddrPort("0.0.0.0:4000"), netip.MustParseAddrPort("[fe80::1]:4000")}})
	v.handleDiscoLocked(cmm, netip.AddrPort{}, nil, now, nil)
	learned := len(v.peers[peerPriv.Public()].learned)
	v.mu.Unlock()
	if len(first) == 0 {
		t.Fatal("the genuine ping got no pong")
	}
	if len(again) != 0 {
		t.Errorf("the replayed ping got %d packets back", len(again))
	}
	if learned != 1 {
		t.Errorf("learned %d addresses, want only the genuine ping's source", learned)
	}
}
