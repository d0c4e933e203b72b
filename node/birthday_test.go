package node

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/wire"
)

func TestBirthdayRole(t *testing.T) {
	tests := []struct {
		self, peer disco.NATClass
		want       role
	}{
		{disco.NATHard, disco.NATEasy, roleSockets},
		{disco.NATEasy, disco.NATHard, roleSpray},
		{disco.NATEasy, disco.NATEasy, roleNone},
		{disco.NATHard, disco.NATHard, roleNone},
		{0, disco.NATHard, roleNone},
		{disco.NATHard, 0, roleNone},
	}
	for _, tt := range tests {
		if got := birthdayRole(tt.self, tt.peer); got != tt.want {
			t.Errorf("birthdayRole(%s, %s) = %d, want %d", natClassName(tt.self), natClassName(tt.peer), got, tt.want)
		}
	}
}

func TestNATClassFromSTUNAnswers(t *testing.T) {
	a, b := netip.MustParseAddrPort("172.16.0.1:3478"), netip.MustParseAddrPort("172.16.0.2:3478")
	m1, m2 := netip.MustParseAddrPort("10.1.0.2:4000"), netip.MustParseAddrPort("10.1.0.2:51234")
	tests := []struct {
		name   string
		mapped map[netip.AddrPort]netip.AddrPort
		want   disco.NATClass
	}{
		{"two servers, one mapping: easy", map[netip.AddrPort]netip.AddrPort{a: m1, b: m1}, disco.NATEasy},
		{"two servers, two ports: hard", map[netip.AddrPort]netip.AddrPort{a: m1, b: m2}, disco.NATHard},
		{"one server: unknown", map[netip.AddrPort]netip.AddrPort{a: m1}, 0},
		{"none: unknown", nil, 0},
	}
	for _, tt := range tests {
		if got := classOf(tt.mapped); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, natClassName(got), natClassName(tt.want))
		}
	}
}

// TestNATClassFromOneRoundOnly: answers of an older round never mix with
// the current one's, and a relay's second STUN address classifies without
// becoming the reflexive address.
func TestNATClassFromOneRoundOnly(t *testing.T) {
	b := newPathBind(conn.NewDefaultBind(), nil, newTestKey(t), nil)
	a, alt := netip.MustParseAddrPort("172.16.0.1:3478"), netip.MustParseAddrPort("172.16.0.2:3478")
	b.setSTUN([]netip.AddrPort{a})
	b.setSTUNAlt([]netip.AddrPort{alt})
	m1, m2 := netip.MustParseAddrPort("10.1.0.2:4000"), netip.MustParseAddrPort("10.1.0.2:51234")
	t0 := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if got := b.stunTargetsLocked(); len(got) != 2 || !b.isAltLocked(alt) || b.isAltLocked(a) {
		t.Fatalf("targets %v", got)
	}
	b.noteMappingLocked(a, m1, t0)
	b.noteMappingLocked(alt, m2, t0.Add(-stunEvery)) // late answer to an older round
	if b.nat.class != 0 {
		t.Fatalf("class %s from two rounds' answers", natClassName(b.nat.class))
	}
	b.noteMappingLocked(alt, m2, t0)
	if b.nat.class != disco.NATHard {
		t.Fatalf("class %s, want hard", natClassName(b.nat.class))
	}
	t1 := t0.Add(stunEvery)
	b.noteMappingLocked(a, m1, t1)
	if b.nat.class != disco.NATHard {
		t.Fatal("one answer of a new round changed the class")
	}
	b.noteMappingLocked(alt, m1, t1)
	if b.nat.class != disco.NATEasy {
		t.Fatalf("class %s, want easy", natClassName(b.nat.class))
	}
}

func TestSprayPorts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, sprayProbes, 70000} {
		ports := sprayPorts(r.Uint64N, n)
		want := min(n, 65536-minProbePort)
		if len(ports) != want {
			t.Fatalf("%d ports, want %d", len(ports), want)
		}
		seen := map[uint16]bool{}
		for _, p := range ports {
			if p < minProbePort || seen[p] {
				t.Fatalf("port %d below %d or twice", p, minProbePort)
			}
			seen[p] = true
		}
	}
}

func TestSprayBudget(t *testing.T) {
	tests := []struct {
		elapsed time.Duration
		want    int
	}{
		{0, sprayBurst},
		{100 * time.Millisecond, sprayBurst + sprayRate/10},
		{2 * time.Second, sprayBurst + 2*sprayRate},
	}
	for _, tt := range tests {
		if got := sprayBudget(tt.elapsed); got != tt.want {
			t.Errorf("sprayBudget(%v) = %d, want %d", tt.elapsed, got, tt.want)
		}
	}
}

func TestSprayTarget(t *testing.T) {
	cands := []netip.AddrPort{netip.MustParseAddrPort("10.2.0.2:3478"), netip.MustParseAddrPort("192.168.2.2:41641")}
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.2.0.2", true},
		{"192.168.2.2", true},
		{"10.9.0.2", false},
		{"224.0.0.1", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
	}
	for _, tt := range tests {
		got := sprayTarget(netip.MustParseAddr(tt.ip), append(cands, netip.MustParseAddrPort("224.0.0.1:5"), netip.MustParseAddrPort("0.0.0.0:5"),
			netip.MustParseAddrPort("255.255.255.255:5")))
		if got != tt.want {
			t.Errorf("sprayTarget(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

// TestBirthdayProbesOnlyWhenAPeerAsksOverTheRelay plays an attacker
// against an easy-NAT node: a stranger's NAT message, a peer's genuine
// one replayed over UDP, and ones naming a multicast, unspecified or
// broadcast address start no probing; the peer's own request over the
// relay starts one spray, of at most sprayProbes pings, all to the
// peer's public IP on distinct ports, and a second request at once
// starts none. (The bind's UDP side is not open: nothing leaves.)
func TestBirthdayProbesOnlyWhenAPeerAsksOverTheRelay(t *testing.T) {
	ePriv, hPriv, strangerPriv := newTestKey(t), newTestKey(t), newTestKey(t)
	e := newPathBind(conn.NewStdNetBind(), upRelay(), ePriv, nil)
	public := netip.MustParseAddrPort("10.2.0.2:3478")
	e.setPeers(map[wire.WGPublic]peerRoute{hPriv.Public(): {eps: []netip.AddrPort{public}}})
	closed := make(chan struct{})
	e.mu.Lock()
	e.closed, e.nat.class = closed, disco.NATEasy
	e.mu.Unlock()
	t.Cleanup(func() { close(closed); e.bday.wg.Wait() })

	send := func(priv wire.WGPrivate, m disco.Message, src netip.AddrPort) {
		k, _ := disco.SharedKey(priv, ePriv.Public())
		pkt, _ := disco.Seal(k, priv.Public(), m)
		e.mu.Lock()
		e.handleDiscoLocked(pkt, src, nil, time.Now(), nil)
		e.mu.Unlock()
	}
	probe := disco.Message{Type: disco.TypeNAT, NAT: disco.NATHard, Probe: true, Reflexive: public}
	spraying := func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.bday.sprays > 0
	}
	send(strangerPriv, probe, netip.AddrPort{})
	send(hPriv, probe, netip.MustParseAddrPort("10.2.0.2:3478"))
	for _, bad := range []string{"224.0.0.1:3478", "0.0.0.0:3478", "255.255.255.255:3478"} {
		send(hPriv, disco.Message{Type: disco.TypeNAT, NAT: disco.NATHard, Probe: true, Reflexive: netip.MustParseAddrPort(bad)}, netip.AddrPort{})
	}
	if spraying() {
		t.Fatal("a stranger's, a replayed or an unprobeable address's request started probing")
	}
	send(hPriv, probe, netip.AddrPort{})
	if !spraying() {
		t.Fatal("the peer's request over the relay started no probing")
	}
	send(hPriv, probe, netip.AddrPort{})
	waitWithin(t, 30*time.Second, "the spray's end", func() bool { return !spraying() })
	e.mu.Lock()
	defer e.mu.Unlock()
	ports := map[uint16]bool{}
	for _, s := range e.pings {
		if s.to.Addr() != public.Addr() || ports[s.to.Port()] {
			t.Fatalf("a probe to %v (a second one to that port, or another host)", s.to)
		}
		ports[s.to.Port()] = true
	}
	if len(ports) != sprayProbes {
		t.Errorf("%d probes, want %d (one spray, whole)", len(ports), sprayProbes)
	}
}

// waitWithin polls cond every 10 ms until it holds; the test fails after
// d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBirthdayKeepsWinningSocket: a hard-NAT node told by its easy peer
// (over the relay) where it is opens hardSockets sockets that each ping
// the peer; the one whose ping the peer answers becomes the direct path:
// the node's packets to the peer leave through it, the peer's packets to
// it reach WireGuard, and every other socket closes but a second one the
// peer answered too (it may be the one the peer uses), until the peer
// leaves the map. The peer is played by a plain UDP socket on loopback.
func TestBirthdayKeepsWinningSocket(t *testing.T) {
	hPriv, ePriv := newTestKey(t), newTestKey(t)
	h := startUDPNode(t, hPriv, upRelay())
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	eAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	h.b.setPeers(map[wire.WGPublic]peerRoute{ePriv.Public(): {eps: []netip.AddrPort{eAddr}}})
	h.b.mu.Lock()
	h.b.nat.class, h.b.reflexive = disco.NATHard, netip.MustParseAddrPort("127.0.0.1:1")
	h.b.mu.Unlock()
	k, _ := disco.SharedKey(ePriv, hPriv.Public())
	nat, _ := disco.Seal(k, ePriv.Public(), disco.Message{Type: disco.TypeNAT, NAT: disco.NATEasy, Reflexive: eAddr})
	h.b.mu.Lock()
	h.b.handleDiscoLocked(nat, netip.AddrPort{}, nil, time.Now(), nil)
	a := h.b.peers[ePriv.Public()].bday.attempt
	h.b.mu.Unlock()
	if a == nil {
		t.Fatal("no attempt started")
	}

	// Answer a ping from a socket other than the WireGuard one, then (as
	// when two probes hit at once) one from another.
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	answer := func(not netip.AddrPort) netip.AddrPort {
		for {
			n, src, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no ping from the extra sockets: %v", err)
			}
			m, err := disco.Open(k, buf[:n])
			if err != nil || m.Type != disco.TypePing || src == h.addr || src == not {
				continue
			}
			pong, _ := disco.Seal(k, ePriv.Public(), disco.Message{Type: disco.TypePong, TxID: m.TxID, Src: src})
			if _, err := peer.WriteToUDPAddrPort(pong, src); err != nil {
				t.Fatal(err)
			}
			return src
		}
	}
	kept := func() (*hardSock, []*hardSock) {
		h.b.mu.Lock()
		defer h.b.mu.Unlock()
		bd := h.b.peers[ePriv.Public()].bday
		return bd.kept, bd.also
	}
	port := func(s *hardSock) uint16 { return uint16(s.conn.LocalAddr().(*net.UDPAddr).Port) }
	winner := answer(netip.AddrPort{})
	waitPath(t, "the kept socket", func() bool {
		k, _ := kept()
		return k != nil && port(k) == winner.Port()
	})
	if p := h.b.path(ePriv.Public()); p.kind != "direct" || p.addr != eAddr {
		t.Fatalf("path %+v, want direct to %v", p, eAddr)
	}
	second := answer(winner)
	waitPath(t, "the second answered socket kept beside it", func() bool {
		k, also := kept()
		return port(k) == winner.Port() && len(also) == 1 && port(also[0]) == second.Port()
	})

	waitPath(t, "the attempt's end", func() bool {
		h.b.mu.Lock()
		defer h.b.mu.Unlock()
		return h.b.bday.attempts == 0
	})
	// The other sockets' pings stop with the attempt: drain them.
	for {
		peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			break
		}
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))

	// Out through the kept socket.
	if err := h.b.Send([][]byte{[]byte("wireguard data")}, peerEndpoint{key: ePriv.Public()}); err != nil {
		t.Fatal(err)
	}
	for {
		n, src, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("the data packet did not arrive: %v", err)
		}
		if string(buf[:n]) == "wireguard data" {
			if src != winner {
				t.Fatalf("the data packet came from %v, want the kept socket %v", src, winner)
			}
			break
		}
	}
	// In through it and through the second, to WireGuard.
	for i, to := range []netip.AddrPort{winner, second} {
		if _, err := peer.WriteToUDPAddrPort([]byte("\x04wireguard reply"), to); err != nil {
			t.Fatal(err)
		}
		waitPath(t, "the reply at WireGuard", func() bool { return h.wireguardPackets() == i+1 })
	}

	open := 0
	for _, s := range a.socks {
		select {
		case <-s.done:
		default:
			open++
		}
	}
	if len(a.socks) != hardSockets || open != 2 {
		t.Errorf("%d sockets opened, %d still open; want %d and 2 (the two answered)", len(a.socks), open, hardSockets)
	}
	// The peer leaves the map: its kept sockets close.
	h.b.setPeers(map[wire.WGPublic]peerRoute{})
	for _, s := range a.socks {
		select {
		case <-s.done:
		default:
			t.Fatal("a socket stayed open after its peer left the map")
		}
	}
}

// TestBirthdayProbesOnlyAnIPInThePeersMap plays a peer naming, in its
// own NAT message over the relay, a host that is not on one of its map
// endpoints' IPs: neither the easy side sprays it nor the hard side opens
// sockets pinging it (a peer's own claim could point either at any host).
// The host named is on loopback; nothing is opened when the test passes.
func TestBirthdayProbesOnlyAnIPInThePeersMap(t *testing.T) {
	mapped := netip.MustParseAddrPort("127.0.0.1:3478")
	victim := netip.MustParseAddrPort("127.0.0.9:3478")
	for _, tc := range []struct {
		name       string
		self, peer disco.NATClass
		probe      bool
	}{
		{"easy side sprays", disco.NATEasy, disco.NATHard, true},
		{"hard side opens sockets", disco.NATHard, disco.NATEasy, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sPriv, pPriv := newTestKey(t), newTestKey(t)
			s := startUDPNode(t, sPriv, upRelay())
			s.b.setPeers(map[wire.WGPublic]peerRoute{pPriv.Public(): {eps: []netip.AddrPort{mapped}}})
			s.b.mu.Lock()
			s.b.nat.class, s.b.reflexive = tc.self, netip.MustParseAddrPort("127.0.0.1:1")
			s.b.mu.Unlock()
			k, _ := disco.SharedKey(pPriv, sPriv.Public())
			pkt, _ := disco.Seal(k, pPriv.Public(), disco.Message{Type: disco.TypeNAT, NAT: tc.peer, Probe: tc.probe, Reflexive: victim})
			s.b.mu.Lock()
			s.b.handleDiscoLocked(pkt, netip.AddrPort{}, nil, time.Now(), nil)
			busy := s.b.bday.sprays + s.b.bday.attempts
			s.b.mu.Unlock()
			if busy != 0 {
				t.Fatalf("a NAT message naming %v (not in the peer's map) started %d sprays or attempts", victim.Addr(), busy)
			}
		})
	}
}

// TestBirthdaySprayWaitsForTheMap: a peer's request to probe an IP its
// map endpoints do not list yet (the map may lag its STUN) starts the
// spray once the map lists that IP, within hardWindow.
func TestBirthdaySprayWaitsForTheMap(t *testing.T) {
	ePriv, hPriv := newTestKey(t), newTestKey(t)
	e := newPathBind(conn.NewStdNetBind(), upRelay(), ePriv, nil)
	public := netip.MustParseAddrPort("127.0.0.9:3478")
	e.setPeers(map[wire.WGPublic]peerRoute{hPriv.Public(): {eps: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}}})
	closed := make(chan struct{})
	e.mu.Lock()
	e.closed, e.nat.class = closed, disco.NATEasy
	e.mu.Unlock()
	t.Cleanup(func() { close(closed); e.bday.wg.Wait() })
	k, _ := disco.SharedKey(hPriv, ePriv.Public())
	pkt, _ := disco.Seal(k, hPriv.Public(), disco.Message{Type: disco.TypeNAT, NAT: disco.NATHard, Probe: true, Reflexive: public})
	sprays := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.bday.sprays
	}
	e.mu.Lock()
	e.handleDiscoLocked(pkt, netip.AddrPort{}, nil, time.Now(), nil)
	e.mu.Unlock()
	if n := sprays(); n != 0 {
		t.Fatalf("%d sprays before the map lists the IP", n)
	}
	e.setPeers(map[wire.WGPublic]peerRoute{hPriv.Public(): {eps: []netip.AddrPort{public}}})
	if n := sprays(); n != 1 {
		t.Fatalf("%d sprays once the map lists the IP, want 1", n)
	}
}
