package node

import (
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

// The hard side of birthday probing (see birthday.go): an attempt's
// extra sockets, their readers, and the socket kept for the peer.

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

// startHardLocked starts an attempt to p when the node is the hard side,
// p has no working direct path, no attempt runs, the backoff allows, and
// p's reflexive address is on the IP of one of its map endpoints (so a
// peer cannot point hardSockets sockets' pings at any host).
func (b *pathBind) startHardLocked(p *peerPath, now time.Time) {
	to := p.bday.public
	if birthdayRole(b.nat.class, p.bday.class) != roleSockets || p.directFresh(now) || p.bday.attempt != nil ||
		b.bday.attempts >= maxHardAttempts || b.closed == nil || b.relay == nil || !probeable(to) ||
		!sprayTarget(to.Addr(), p.mapEPs) {
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
		wake := b.heardLocked(src, now)
		b.mu.Unlock()
		if wake {
			b.wakeLoop()
		}
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

// receiveHard copies a packet from the birthday probes' extra sockets into
// buf (sizes[0], eps[0]) and reports whether it did (receiveOther).
func (b *pathBind) receiveHard(h hardPacket, buf []byte, sizes []int, eps []conn.Endpoint) bool {
	if len(h.pkt) > len(buf) {
		return false
	}
	sizes[0] = copy(buf, h.pkt)
	eps[0] = h.ep
	return true
}
