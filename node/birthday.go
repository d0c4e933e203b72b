package node

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pion/stun/v3"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/wire"
)

// Birthday probing: a pair with one easy NAT (one public port per
// socket) and one hard NAT (a random public port per destination) cannot
// meet with one socket on each side: the hard side's port toward the
// easy side is not the one STUN saw, and the easy side's NAT only lets
// in packets from an address and port it sent to. So the hard side opens
// hardSockets extra sockets, each pinging the easy side's reflexive
// address (256 random mappings open in its NAT), and asks the easy side,
// over the relay, to ping random ports of its public IP; when one of
// those ports is one of the open mappings (likely after a few hundred
// probes, as in the birthday paradox), the ping passes, its pong
// confirms the path, and the hard side keeps that socket for the peer's
// packets and closes the others. See ARCHITECTURE.md, "The node's
// paths", for the bounds.
const (
	// hardSockets is how many sockets the hard side opens per attempt.
	hardSockets = 256
	// hardWindow is how long an attempt's sockets stay open, and
	// hardPingEvery how often each pings the easy side meanwhile.
	hardWindow    = 6 * time.Second
	hardPingEvery = time.Second
	// hardGrace is how long the sockets stay open after one won, so a
	// second one the peer may have confirmed (two probes hit at once)
	// can win too and be kept beside it.
	hardGrace = time.Second
	// hardBackoffMin and hardBackoffMax bound the wait between two
	// attempts for one peer (it doubles after each; a new address on
	// either side starts over).
	hardBackoffMin = 8 * time.Second
	hardBackoffMax = 5 * time.Minute
	// maxHardAttempts bounds the attempts running at once (each holds
	// hardSockets sockets).
	maxHardAttempts = 1
	// sprayProbes is how many ports of the hard side's public IP the easy
	// side pings per attempt, at most sprayRate a second (sprayBurst at
	// once, every sprayTick); with 256 open mappings among the 64,512
	// ports a NAT picks from, 2,048 probes miss them all with a chance of
	// about 3 in 10,000.
	sprayProbes = 2048
	sprayRate   = 1000
	sprayBurst  = 32
	sprayTick   = 10 * time.Millisecond
	// sprayEvery is the least time between two sprays toward one peer
	// (below hardBackoffMin, so each attempt of the peer gets one), and
	// maxSprays bounds the sprays running at once.
	sprayEvery = 5 * time.Second
	maxSprays  = 4
	// minProbePort is the lowest port a NAT hands out for a port above
	// 1023 (Linux's masquerade picks 1024..65535).
	minProbePort = 1024
	// hardBufLen bounds a datagram read on an extra socket (an overlay
	// packet of up to 1500 bytes and WireGuard's header).
	hardBufLen = 2048
	// hardQueue bounds the packets from extra sockets waiting for
	// wireguard-go.
	hardQueue = 64
	// maxAlsoKept bounds the answered sockets kept besides the winner.
	maxAlsoKept = 3
)

// role is what a node does in birthday probing with one peer.
type role int

// The roles.
const (
	// roleNone: no birthday probing (both easy: plain disco works; both
	// hard: no number of probes helps; a class unknown).
	roleNone role = iota
	// roleSockets: the node is the hard side and opens many sockets.
	roleSockets
	// roleSpray: the node is the easy side and probes many ports.
	roleSpray
)

// birthdayRole returns the node's role with a peer, from the node's NAT
// class and the peer's.
func birthdayRole(self, peer disco.NATClass) role {
	switch {
	case self == disco.NATHard && peer == disco.NATEasy:
		return roleSockets
	case self == disco.NATEasy && peer == disco.NATHard:
		return roleSpray
	}
	return roleNone
}

// birthday is one peer's birthday probing state (in peerPath, guarded by
// the pathBind's mu).
type birthday struct {
	// class and public are the peer's NAT class and reflexive address
	// from its last NAT message.
	class  disco.NATClass
	public netip.AddrPort
	// next is when the hard side may start its next attempt and wait the
	// current backoff; both apply to the addresses in pair (the node's
	// reflexive address and the peer's), and start over when they change.
	next time.Time
	wait time.Duration
	pair [2]netip.AddrPort
	// attempt is the hard side's running attempt (nil: none).
	attempt *hardAttempt
	// kept is the socket that won (nil: none): packets to kept.remote go
	// out through it. also are the attempt's other sockets whose pings
	// were answered (at most maxAlsoKept): the peer may have confirmed
	// one of them, not kept, as its path (two probes hit at once), so
	// they stay open and pass what arrives to WireGuard.
	kept *hardSock
	also []*hardSock
	// lastSpray is when the easy side last started probing the peer's
	// ports, spraying whether it still does.
	lastSpray time.Time
	spraying  bool
}

// bindBirthday is the pathBind's birthday probing state (guarded by its
// mu, except in, which its own goroutines use).
type bindBirthday struct {
	// attempts and sprays count the attempts and sprays running.
	attempts, sprays int
	// in carries WireGuard packets from extra sockets to the
	// receiveHard ReceiveFunc (made by Open).
	in chan hardPacket
	// wg tracks the attempts', sprays' and readers' goroutines.
	wg sync.WaitGroup
}

// hardPacket is a WireGuard packet that came in on an extra socket.
type hardPacket struct {
	pkt []byte
	ep  *sockEndpoint
}

// hardAttempt is one hard-side attempt: its sockets and the peer they
// probe.
type hardAttempt struct {
	peer wire.WGPublic
	to   netip.AddrPort
	// socks are the attempt's sockets (set once, under the bind's mu).
	socks []*hardSock
	// won is closed when one of them is kept.
	won     chan struct{}
	wonOnce sync.Once
}

// hardSock is one extra socket of an attempt.
type hardSock struct {
	conn    *net.UDPConn
	remote  netip.AddrPort // the easy side's address it probes
	ep      *sockEndpoint  // remote, through this socket
	attempt *hardAttempt
	done    chan struct{}
	once    sync.Once
	// pinged is when it last pinged an address answering its ping
	// (guarded by the bind's mu).
	pinged time.Time
}

// close closes the socket (once), ending its reader.
func (s *hardSock) close() {
	s.once.Do(func() {
		close(s.done)
		s.conn.Close()
	})
}

// sockEndpoint is a UDP destination reached through an extra socket.
type sockEndpoint struct {
	to   netip.AddrPort
	sock *hardSock
}

func (*sockEndpoint) ClearSrc()             {}
func (*sockEndpoint) SrcToString() string   { return "" }
func (e *sockEndpoint) DstIP() netip.Addr   { return e.to.Addr() }
func (*sockEndpoint) SrcIP() netip.Addr     { return netip.Addr{} }
func (e *sockEndpoint) DstToString() string { return e.to.String() }
func (e *sockEndpoint) DstToBytes() []byte {
	b, _ := e.to.MarshalBinary()
	return b
}

var _ conn.Endpoint = (*sockEndpoint)(nil)

// sendSock sends bufs through an extra socket; when that socket is
// closed (its attempt ended, the path moved) they go out of the
// WireGuard socket instead.
func (b *pathBind) sendSock(bufs [][]byte, e *sockEndpoint) error {
	var first error
	for _, buf := range bufs {
		if _, err := e.sock.conn.WriteToUDPAddrPort(buf, e.to); err != nil {
			select {
			case <-e.sock.done:
				return b.udp.Send(bufs, &conn.StdNetEndpoint{AddrPort: e.to})
			default:
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// directFresh reports whether p has a direct path heard from lately.
func (p *peerPath) directFresh(now time.Time) bool {
	return p.best.IsValid() && now.Sub(p.heard) < freshFor
}

// birthdayWhyLocked explains a relayed pair in birthday probing's terms
// ("": nothing to say).
func (b *pathBind) birthdayWhyLocked(p *peerPath) string {
	switch {
	case b.nat.class == disco.NATHard && p.bday.class == disco.NATHard:
		return "both ends are behind symmetric NATs (a new port per destination): no direct path can be found"
	case p.bday.attempt != nil || p.bday.spraying:
		return "birthday probing (one end is behind a symmetric NAT)"
	case birthdayRole(b.nat.class, p.bday.class) != roleNone:
		return "birthday probing found no open port yet (one end is behind a symmetric NAT)"
	}
	return ""
}

// natMessageLocked returns out with a NAT message for p over the relay
// (the node's class and reflexive address; probe asks p to probe now),
// when the node knows both.
func (b *pathBind) natMessageLocked(p *peerPath, probe bool, out []outPacket) []outPacket {
	if b.nat.class == 0 || !b.reflexive.IsValid() {
		return out
	}
	m := disco.Message{Type: disco.TypeNAT, NAT: b.nat.class, Reflexive: b.reflexive, Probe: probe}
	if pkt, err := disco.Seal(p.shared, b.pub, m); err == nil {
		out = append(out, outPacket{pkt: pkt, viaRelay: p.key, home: p.home})
	}
	return out
}

// birthdayRoundLocked is part of p's discovery round: p learns the
// node's NAT class, and the hard side starts an attempt when one is due.
func (b *pathBind) birthdayRoundLocked(p *peerPath, now time.Time, relayUp bool, out []outPacket) []outPacket {
	b.dropStaleKeptLocked(p)
	if !relayUp {
		return out
	}
	out = b.natMessageLocked(p, false, out)
	b.startHardLocked(p, now)
	return out
}

// takeNATLocked takes p's NAT message m, which came over the relay (a
// NAT message over UDP could be a capture replayed by anyone: it is
// dropped). The hard side starts an attempt when one is due; the easy
// side probes when asked to.
func (b *pathBind) takeNATLocked(p *peerPath, m disco.Message, src netip.AddrPort, now time.Time) {
	if src.IsValid() {
		return
	}
	p.bday.class = m.NAT
	if probeable(m.Reflexive) {
		// The peer's reflexive address is one of its candidates, as in a
		// call-me-maybe (which may have been paced away).
		p.bday.public = m.Reflexive
		b.learnLocked(p, m.Reflexive, now)
	}
	switch birthdayRole(b.nat.class, m.NAT) {
	case roleSockets:
		b.startHardLocked(p, now)
	case roleSpray:
		if m.Probe {
			b.startSprayLocked(p, m.Reflexive.Addr(), now)
		}
	}
}

// startHardLocked starts an attempt to p when the node is the hard side,
// p has no working direct path, no attempt runs, and the backoff allows.
func (b *pathBind) startHardLocked(p *peerPath, now time.Time) {
	to := p.bday.public
	if birthdayRole(b.nat.class, p.bday.class) != roleSockets || p.directFresh(now) || p.bday.attempt != nil ||
		b.bday.attempts >= maxHardAttempts || b.closed == nil || b.relay == nil || !probeable(to) {
		return
	}
	if pair := [2]netip.AddrPort{b.reflexive, to}; pair != p.bday.pair {
		p.bday.pair, p.bday.next, p.bday.wait = pair, time.Time{}, 0
	}
	if now.Before(p.bday.next) {
		return
	}
	p.bday.wait = min(max(2*p.bday.wait, hardBackoffMin), hardBackoffMax)
	p.bday.next = now.Add(p.bday.wait)
	a := &hardAttempt{peer: p.key, to: to, won: make(chan struct{})}
	p.bday.attempt = a
	b.bday.attempts++
	b.log.Info("birthday probing: opening sockets", "peer", p.key.ShortString(), "to", to, "sockets", hardSockets)
	closed := b.closed
	b.bday.wg.Go(func() { b.runHard(a, closed) })
}

// openHardSockets opens up to n UDP sockets of to's family (fewer when
// the system refuses more).
func openHardSockets(to netip.AddrPort, n int) ([]*net.UDPConn, error) {
	network := "udp4"
	if to.Addr().Is6() {
		network = "udp6"
	}
	var out []*net.UDPConn
	for range n {
		c, err := net.ListenUDP(network, nil)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// runHard runs attempt a until hardGrace after a socket won, hardWindow
// passes or the bind closes: it opens the sockets, pings from each every
// hardPingEvery until one wins, and asks the peer to probe (over the
// relay) once they are open.
func (b *pathBind) runHard(a *hardAttempt, closed <-chan struct{}) {
	conns, err := openHardSockets(a.to, hardSockets)
	if err != nil {
		b.log.Info("birthday probing: sockets", "opened", len(conns), "err", err)
	}
	b.mu.Lock()
	for _, c := range conns {
		s := &hardSock{conn: c, remote: a.to, attempt: a, done: make(chan struct{})}
		s.ep = &sockEndpoint{to: a.to, sock: s}
		a.socks = append(a.socks, s)
		b.bday.wg.Go(func() { b.readHard(s) })
	}
	b.mu.Unlock()
	b.pingHard(a, true)
	window := time.NewTimer(hardWindow)
	defer window.Stop()
	tick := time.NewTicker(hardPingEvery)
	defer tick.Stop()
	won, pinging := a.won, true
	for done := false; !done; {
		select {
		case <-closed:
			done = true
		case <-won:
			won, pinging = nil, false
			window.Reset(hardGrace)
		case <-window.C:
			done = true
		case <-tick.C:
			if pinging {
				b.pingHard(a, false)
			}
		}
	}
	b.endHard(a)
}

// pingHard pings a's peer from each of a's sockets; first also asks the
// peer, over the relay, to probe now.
func (b *pathBind) pingHard(a *hardAttempt, first bool) {
	now := time.Now()
	b.mu.Lock()
	p := b.peers[a.peer]
	if p == nil || p.bday.attempt != a {
		b.mu.Unlock()
		return
	}
	b.expirePingsLocked(now)
	out := make([]outPacket, 0, len(a.socks)+1)
	for _, s := range a.socks {
		out = b.pingThroughLocked(p, s, a.to, now, out)
	}
	if first {
		out = b.natMessageLocked(p, true, out)
	}
	b.mu.Unlock()
	b.sendAll(out)
}

// pingThroughLocked returns out with a ping to p at to through s.
func (b *pathBind) pingThroughLocked(p *peerPath, s *hardSock, to netip.AddrPort, now time.Time, out []outPacket) []outPacket {
	tx := disco.NewTxID()
	pkt, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePing, TxID: tx})
	if err != nil {
		return out
	}
	b.pings[tx] = pingSent{peer: p.key, to: to, at: now}
	ep := s.ep
	if to != s.remote {
		ep = &sockEndpoint{to: to, sock: s}
	}
	return append(out, outPacket{pkt: pkt, to: ep})
}

// endHard ends attempt a: every socket but a kept one closes, and a
// success resets the peer's backoff.
func (b *pathBind) endHard(a *hardAttempt) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bday.attempts--
	p := b.peers[a.peer]
	var kept *hardSock
	var also []*hardSock
	if p != nil {
		kept, also = p.bday.kept, p.bday.also
		if p.bday.attempt == a {
			p.bday.attempt = nil
		}
	}
	for _, s := range a.socks {
		if s != kept && !slices.Contains(also, s) {
			s.close()
		}
	}
	won := kept != nil && kept.attempt == a
	if won {
		p.bday.next, p.bday.wait = time.Time{}, 0
	}
	b.log.Info("birthday probing: attempt over", "peer", a.peer.ShortString(), "direct", won)
}

// readHard reads s until it closes: disco packets are handled here, STUN
// ignored, and anything else goes to wireguard-go (which authenticates
// it) with an endpoint that answers through s.
func (b *pathBind) readHard(s *hardSock) {
	buf := make([]byte, hardBufLen)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		pkt, now := buf[:n], time.Now()
		switch {
		case disco.Is(pkt):
			b.mu.Lock()
			out := b.handleHardDiscoLocked(s, pkt, src, now)
			b.mu.Unlock()
			b.sendAll(out)
			continue
		case stun.IsMessage(pkt):
			continue
		}
		b.mu.Lock()
		b.heardLocked(src, now)
		b.mu.Unlock()
		b.counters.directRx.Add(uint64(n))
		select {
		case b.bday.in <- hardPacket{pkt: append([]byte(nil), pkt...), ep: &sockEndpoint{to: src, sock: s}}:
		case <-s.done:
			return
		}
	}
}

// handleHardDiscoLocked handles a disco packet from src on extra socket
// s: a peer's ping gets its pong and a ping back through s; a pong to a
// ping sent through s confirms the path, and when it becomes the peer's
// direct path s is kept.
func (b *pathBind) handleHardDiscoLocked(s *hardSock, pkt []byte, src netip.AddrPort, now time.Time) []outPacket {
	from, err := disco.Sender(pkt)
	if err != nil {
		return nil
	}
	p, ok := b.peers[from]
	if !ok {
		return nil
	}
	m, err := disco.Open(p.shared, pkt)
	if err != nil {
		return nil
	}
	var out []outPacket
	switch m.Type {
	case disco.TypePing:
		if b.seenPingLocked(p, m.TxID, now) {
			return nil
		}
		if pong, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePong, TxID: m.TxID, Src: src}); err == nil {
			out = append(out, outPacket{pkt: pong, to: &sockEndpoint{to: src, sock: s}})
		}
		if (src != p.best || !p.directFresh(now)) && now.Sub(s.pinged) >= replyPingEvery {
			s.pinged = now
			out = b.pingThroughLocked(p, s, src, now, out)
		}
	case disco.TypePong:
		sent, ok := b.pings[m.TxID]
		if !ok || sent.peer != from || sent.to != src {
			return nil
		}
		delete(b.pings, m.TxID)
		b.confirmLocked(p, src, now.Sub(sent.at), now)
		if p.best == src && src == s.remote {
			b.keepLocked(p, s)
		}
	}
	return out
}

// keepLocked makes s the socket p's packets to s.remote go through, when
// it is the first of its attempt to win; a later winner of the same
// attempt stays open beside it.
func (b *pathBind) keepLocked(p *peerPath, s *hardSock) {
	if k := p.bday.kept; k == s || slices.Contains(p.bday.also, s) {
		return
	} else if k != nil && k.attempt == s.attempt {
		if len(p.bday.also) < maxAlsoKept {
			p.bday.also = append(p.bday.also, s)
		}
		return
	}
	b.dropBirthdayLocked(p)
	p.bday.kept = s
	b.log.Info("birthday probing: direct path", "peer", p.key.ShortString(), "addr", s.remote, "local", s.conn.LocalAddr())
	if a := s.attempt; a != nil {
		a.wonOnce.Do(func() { close(a.won) })
	}
}

// dropStaleKeptLocked closes p's kept socket once its address is no
// longer p's direct path (nor the lost one still used without a relay).
func (b *pathBind) dropStaleKeptLocked(p *peerPath) {
	if k := p.bday.kept; k != nil && k.remote != p.best && k.remote != p.lost {
		b.dropBirthdayLocked(p)
	}
}

// keptEndpoint returns the endpoint through p's kept socket for a, or
// nil.
func (p *peerPath) keptEndpoint(a netip.AddrPort) conn.Endpoint {
	if k := p.bday.kept; k != nil && k.remote == a {
		return k.ep
	}
	return nil
}

// dropBirthdayLocked closes the sockets birthday probing kept for p; a
// running attempt ends on its own.
func (b *pathBind) dropBirthdayLocked(p *peerPath) {
	if k := p.bday.kept; k != nil {
		k.close()
	}
	for _, s := range p.bday.also {
		s.close()
	}
	p.bday.kept, p.bday.also = nil, nil
}

// startSprayLocked starts probing sprayProbes random ports of ip (p's
// public IP) when the node is not already probing p, p has no working
// direct path, sprayEvery passed since the last spray to p, fewer than
// maxSprays run, and ip is one of p's candidates' addresses (from the map
// or a call-me-maybe).
func (b *pathBind) startSprayLocked(p *peerPath, ip netip.Addr, now time.Time) {
	if p.directFresh(now) || p.bday.spraying || b.bday.sprays >= maxSprays || b.closed == nil ||
		(!p.bday.lastSpray.IsZero() && now.Sub(p.bday.lastSpray) < sprayEvery) ||
		!sprayTarget(ip, b.peerCandidatesLocked(p, now)) {
		return
	}
	p.bday.spraying, p.bday.lastSpray = true, now
	b.bday.sprays++
	ports := sprayPorts(rand.N[uint64], sprayProbes)
	b.log.Info("birthday probing: probing ports", "peer", p.key.ShortString(), "ip", ip, "probes", len(ports))
	k, closed := p.key, b.closed
	b.bday.wg.Go(func() { b.runSpray(k, ip, ports, closed) })
}

// sprayTarget reports whether ip may be probed on many ports: a
// probeable address that is one of the peer's candidates' IPs.
func sprayTarget(ip netip.Addr, candidates []netip.AddrPort) bool {
	if !probeable(netip.AddrPortFrom(ip, minProbePort)) {
		return false
	}
	for _, c := range candidates {
		if c.Addr() == ip {
			return true
		}
	}
	return false
}

// sprayPorts returns n distinct ports from minProbePort to 65535, in a
// random order drawn with randN (rand.N's form).
func sprayPorts(randN func(uint64) uint64, n int) []uint16 {
	const span = 65536 - minProbePort
	n = min(n, span)
	seen := make(map[uint16]bool, n)
	out := make([]uint16, 0, n)
	for len(out) < n {
		p := uint16(minProbePort + randN(span))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// sprayBudget returns how many probes a spray may have sent after
// elapsed: sprayRate a second after a burst of sprayBurst.
func sprayBudget(elapsed time.Duration) int {
	return sprayBurst + int(elapsed.Seconds()*sprayRate)
}

// runSpray pings ports of ip for peer k from the WireGuard socket,
// sprayBudget paced, until every port is pinged, k has a working direct
// path, k is gone, or the bind closes.
func (b *pathBind) runSpray(k wire.WGPublic, ip netip.Addr, ports []uint16, closed <-chan struct{}) {
	defer func() {
		b.mu.Lock()
		b.bday.sprays--
		if p := b.peers[k]; p != nil {
			p.bday.spraying = false
		}
		b.mu.Unlock()
	}()
	tick := time.NewTicker(sprayTick)
	defer tick.Stop()
	start := time.Now()
	for sent := 0; sent < len(ports); {
		due := min(sprayBudget(time.Since(start)), len(ports))
		out, ok := b.sprayBatch(k, ip, ports[sent:due])
		if !ok {
			return
		}
		b.sendAll(out)
		sent = due
		select {
		case <-closed:
			return
		case <-tick.C:
		}
	}
}

// sprayBatch returns pings to k at ip on each of ports, or false when
// the spray should stop (k gone or directly reached).
func (b *pathBind) sprayBatch(k wire.WGPublic, ip netip.Addr, ports []uint16) ([]outPacket, bool) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[k]
	if p == nil || p.directFresh(now) {
		return nil, false
	}
	b.expirePingsLocked(now)
	out := make([]outPacket, 0, len(ports))
	for _, port := range ports {
		tx := disco.NewTxID()
		pkt, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePing, TxID: tx})
		if err != nil {
			continue
		}
		to := netip.AddrPortFrom(ip, port)
		b.pings[tx] = pingSent{peer: k, to: to, at: now}
		out = append(out, outPacket{pkt: pkt, to: &conn.StdNetEndpoint{AddrPort: to}})
	}
	return out, true
}

// receiveHard returns a ReceiveFunc delivering one packet from the extra
// sockets per call until closed is closed.
func (b *pathBind) receiveHard(closed chan struct{}) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		for {
			select {
			case <-closed:
				return 0, net.ErrClosed
			case h := <-b.bday.in:
				if len(h.pkt) > len(packets[0]) {
					continue
				}
				sizes[0] = copy(packets[0], h.pkt)
				eps[0] = h.ep
				return 1, nil
			}
		}
	}
}

// stopBirthday closes every extra socket (the ReceiveFuncs and the
// goroutines end: the bind is closing) and waits for the goroutines.
func (b *pathBind) stopBirthday() {
	b.mu.Lock()
	for _, p := range b.peers {
		b.dropBirthdayLocked(p)
		if a := p.bday.attempt; a != nil {
			for _, s := range a.socks {
				s.close()
			}
		}
	}
	b.mu.Unlock()
	b.bday.wg.Wait()
}
