package netstack

import (
	"context"
	"net/netip"
	"time"
)

// guard judges every packet crossing a Stack or a Guard: inbound ones
// against the Filter and the flow table, outbound ones to track the flows
// this node opens. It is safe for concurrent use.
type guard struct {
	v4, v6   netip.Addr // this node's overlay addresses; either may be zero
	filter   filterHolder
	ct       *conntrack
	svc      *services        // nil: every port is served (the OS's stack answers)
	onDenied func(DeniedFlow) // may be nil
	count    bool             // count bytes per flow (CountFlows)
	// answer, if set, sends a packet this node makes (the answer to a
	// packet of a cut flow) to the peer; it is called on the packet path
	// and must not block. Nil: cut flows are dropped silently.
	answer func([]byte)
	// refused, if set, is told of each UDP flow this node opened that the
	// peer refused (an ICMP port unreachable), on the packet path; it must
	// not block.
	refused func(*flowKey)
	// routes are the prefixes a Stack routes to the host's network
	// (SetRoutes); empty for a Guard.
	routes routes
	n      counters
}

// newGuard returns a guard for cfg, which withDefaults has validated.
func newGuard(cfg GuardConfig, svc *services) *guard {
	g := &guard{v4: cfg.IPv4, v6: cfg.IPv6, ct: newConntrack(cfg.MaxFlows), svc: svc, onDenied: cfg.OnDenied, count: cfg.CountFlows}
	g.filter.init()
	return g
}

// inbound judges packet b that a peer sent and reports whether to deliver
// it to the stack behind the guard. now is the conntrack clock.
func (g *guard) inbound(b []byte, now int64) bool {
	var p packet
	if err := parsePacket(b, &p); err != nil {
		g.n.malformed.Add(1)
		return false
	}
	if !(g.isLocal(p.dst) || g.routes.has(p.dst)) || !g.validRemote(p.src) {
		g.n.unsolicited.Add(1)
		return false
	}
	if p.icmpErr {
		return g.inboundError(&p, now)
	}
	k := flowKey{local: p.dst, remote: p.src, localPort: p.dstPort, remotePort: p.srcPort, proto: p.proto}
	f := g.ct.lookup(&k, now)
	if f == nil || (p.startsFlow() && p.proto == ProtoTCP && f.state.Load() == stateClosing) {
		return g.newFlow(&k, &p, len(b), now)
	}
	if f.state.Load() == stateRevoked || !g.stillAllowed(f, p.src, p.dst, p.proto, p.filterPort()) {
		g.n.unsolicited.Add(1)
		g.answerCut(b, &p)
		return false
	}
	f.observe(&p, f.origin == fromRemote, now)
	g.countBytes(f, f.origin == fromRemote, len(b))
	return true
}

// inboundError judges ICMP error p: it passes only when it comes from the
// peer end of a live tracked flow and is about a packet of that flow this
// node sent, so the stack behind the guard learns that the peer refused
// the flow (a UDP port unreachable ends the socket's flow at once).
func (g *guard) inboundError(p *packet, now int64) bool {
	q := &p.quoted
	if q.src != p.dst || q.dst != p.src {
		g.n.unsolicited.Add(1)
		return false
	}
	k := flowKey{local: q.src, remote: q.dst, localPort: q.srcPort, remotePort: q.dstPort, proto: q.proto}
	f := g.ct.lookup(&k, now)
	if f == nil || f.state.Load() == stateRevoked {
		g.n.unsolicited.Add(1)
		return false
	}
	if k.proto == ProtoUDP && f.origin == fromLocal && g.refused != nil {
		g.refused(&k)
	}
	return true
}

// answerCut answers packet b (parsed into p) of a cut flow, so the peer's
// connection ends at once instead of waiting on silence.
func (g *guard) answerCut(b []byte, p *packet) {
	if g.answer == nil {
		return
	}
	if a := answerFor(b, p); a != nil {
		g.answer(a)
	}
}

// revokeDenied checks every live flow a peer opened against the current
// Filter now, rather than on the flow's next packet, revokes the ones it
// denies (reporting each) and returns the keys of the revoked flows not
// returned before, so the stack behind the guard can end each once.
func (g *guard) revokeDenied() []flowKey {
	var cut []flowKey
	now := g.ct.now()
	g.ct.each(func(k *flowKey, f *flow) {
		if f.origin != fromRemote || f.expired(now) {
			return
		}
		port := k.localPort
		if k.proto != ProtoTCP && k.proto != ProtoUDP {
			port = 0
		}
		// A packet may have revoked the flow first, between the new
		// Filter's store and this walk: it is cut here all the same, once.
		revoked := f.state.Load() == stateRevoked || !g.stillAllowed(f, k.remote, k.local, k.proto, port)
		if revoked && f.ended.CompareAndSwap(false, true) {
			cut = append(cut, *k)
		}
	})
	return cut
}

// newFlow judges p, of size bytes, which belongs to no tracked flow.
func (g *guard) newFlow(k *flowKey, p *packet, size int, now int64) bool {

	if !p.startsFlow() {
		g.n.unsolicited.Add(1)
		return false
	}
	fs := g.filter.cur.Load()
	if !fs.allow(p) {
		g.n.denied.Add(1)
		g.report(p.src, p.dst, p.proto, p.filterPort(), false)
		return false
	}
	if !g.serves(p) {
		// The filter lets the source open this flow, so saying that
		// nothing serves the port reveals nothing the policy does not
		// grant: a TCP SYN goes on, untracked, to the stack, whose
		// forwarder answers it with a reset. Anything else is dropped.
		g.n.unserved.Add(1)
		return p.proto == ProtoTCP
	}
	g.n.allowed.Add(1)
	g.countBytes(g.ct.insert(k, fromRemote, fs.gen, now), true, size)
	return true
}

// stillAllowed re-checks a remote-opened flow against a Filter newer than
// the one that allowed it, and cuts the flow if the new Filter denies it.
// Flows this node opened are not subject to the Filter.
func (g *guard) stillAllowed(f *flow, remote, local netip.Addr, proto uint8, port uint16) bool {
	if f.origin != fromRemote {
		return true
	}
	fs := g.filter.cur.Load()
	if f.gen.Load() == fs.gen {
		return true
	}
	if fs.filter != nil && fs.filter.Allow(remote, local, proto, port) {
		f.gen.Store(fs.gen)
		return true
	}
	if f.state.Swap(stateRevoked) != stateRevoked {
		g.n.revoked.Add(1)
		g.report(remote, local, proto, port, true)
	}
	return false
}

// outbound looks at packet b that the stack behind the guard sends and
// reports whether to pass it to WireGuard. It tracks flows this node opens so replies pass, and
// drops packets of revoked flows.
func (g *guard) outbound(b []byte, now int64) bool {
	var p packet
	if parsePacket(b, &p) != nil || p.icmpErr {
		// The stack's own control traffic (ICMP errors, NDP) is not tracked.
		return true
	}
	k := flowKey{local: p.src, remote: p.dst, localPort: p.srcPort, remotePort: p.dstPort, proto: p.proto}
	f := g.ct.lookup(&k, now)
	if f == nil {
		if p.startsFlow() {
			g.countBytes(g.ct.insert(&k, fromLocal, 0, now), true, len(b))
		}
		return true
	}
	port := p.srcPort
	if p.proto != ProtoTCP && p.proto != ProtoUDP {
		port = 0
	}
	if f.state.Load() == stateRevoked || !g.stillAllowed(f, p.dst, p.src, p.proto, port) {
		// Keep the tombstone alive while the local side keeps sending, so
		// the flow cannot come back as a locally opened one.
		f.lastSeen.Store(now)
		if p.proto == ProtoTCP && p.tcpFlags&tcpRST != 0 {
			return true // the stack ending the cut flow: the peer may learn that
		}
		g.n.outDropped.Add(1)
		return false
	}
	f.observe(&p, f.origin == fromLocal, now)
	g.countBytes(f, f.origin == fromLocal, len(b))
	return true
}

// serves reports whether a new flow like p would reach a service.
func (g *guard) serves(p *packet) bool {
	if !g.isLocal(p.dst) {
		// Routed: TCP and UDP are dialled on the host's network; nothing
		// else is answered (gVisor would answer echo requests for the
		// device, which would tell the peer nothing true).
		return p.proto == ProtoTCP || p.proto == ProtoUDP
	}
	if g.svc != nil && (p.proto == ProtoTCP || p.proto == ProtoUDP) {
		return g.svc.serves(p.proto, p.dstPort)
	}
	return true // gVisor answers echo requests itself; so does an OS stack
}

func (g *guard) isLocal(a netip.Addr) bool {
	return a == g.v4 || a == g.v6
}

// validRemote reports whether a may be a peer's source address.
func (g *guard) validRemote(a netip.Addr) bool {
	return usableUnicast(a) && !g.isLocal(a)
}

func (g *guard) report(src, dst netip.Addr, proto uint8, port uint16, revoked bool) {
	if g.onDenied != nil {
		g.onDenied(DeniedFlow{Src: src, Dst: dst, Proto: proto, Port: port, Time: time.Now(), Revoked: revoked})
	}
}

// stats snapshots the counters.
func (g *guard) stats() Stats {
	return Stats{
		Allowed:         g.n.allowed.Load(),
		Denied:          g.n.denied.Load(),
		Revoked:         g.n.revoked.Load(),
		Unserved:        g.n.unserved.Load(),
		Unsolicited:     g.n.unsolicited.Load(),
		Malformed:       g.n.malformed.Load(),
		OutboundDropped: g.n.outDropped.Load(),
		Evicted:         g.ct.evicted.Load(),
		Flows:           g.ct.len(),
	}
}

// sweepLoop removes expired flows every sweepInterval until ctx is done.
func (g *guard) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.ct.sweep()
		}
	}
}
