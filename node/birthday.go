package node

import (
	"net/netip"
	"sync"
	"time"

	"github.com/wardnet/ward/disco"
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
	// asked and askedIP are when the peer last asked the easy side to
	// probe, and where: a request naming an IP not yet in the peer's map
	// endpoints (the map may lag the peer's STUN) is honoured when the
	// map lists it within hardWindow.
	asked   time.Time
	askedIP netip.Addr
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
			p.bday.asked, p.bday.askedIP = now, m.Reflexive.Addr()
			b.startSprayLocked(p, m.Reflexive.Addr(), now)
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
