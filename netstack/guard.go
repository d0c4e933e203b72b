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
	n        counters
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
	if !g.isLocal(p.dst) || !g.validRemote(p.src) {
		g.n.unsolicited.Add(1)
		return false
	}
	k := flowKey{local: p.dst, remote: p.src, localPort: p.dstPort, remotePort: p.srcPort, proto: p.proto}
	f := g.ct.lookup(&k, now)
	if f == nil || (p.startsFlow() && p.proto == ProtoTCP && f.state.Load() == stateClosing) {
		return g.newFlow(&k, &p, len(b), now)
	}
	if f.state.Load() == stateRevoked || !g.stillAllowed(f, p.src, p.dst, p.proto, p.filterPort()) {
		g.n.unsolicited.Add(1)
		return false
	}
	f.observe(&p, f.origin == fromRemote, now)
	g.countBytes(f, f.origin == fromRemote, len(b))
	return true
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
	if parsePacket(b, &p) != nil {
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
		g.n.outDropped.Add(1)
		return false
	}
	f.observe(&p, f.origin == fromLocal, now)
	g.countBytes(f, f.origin == fromLocal, len(b))
	return true
}

// serves reports whether a new flow like p would reach a service.
func (g *guard) serves(p *packet) bool {
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
