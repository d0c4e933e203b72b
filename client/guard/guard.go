// Package guard is the stateful inbound packet filter of the desktop
// client's TUN mode. In TUN mode the operating system's own network stack
// carries the overlay, so the filter that a node enforces inside its gVisor
// netstack is enforced here instead, on raw IP packets, between
// wireguard-go and the TUN device (see Device).
//
// # Why not netstack's flow table
//
// netstack's conntrack and packet parser are unexported and tied to its
// Stack (its services, its housekeeping goroutine). Rather than widen that
// package's API for one caller, the guard keeps a deliberately simple flow
// table: one map under one mutex, bounded, with the same lifetimes as
// netstack's. A desktop carries few flows; the filter itself (a compiled
// filter.Matcher) is read through an atomic pointer and never locked.
//
// # Rules
//
//   - A new inbound flow (TCP SYN, first UDP datagram, ICMP echo request)
//     from a peer to one of this machine's overlay addresses passes only
//     when the Matcher allows it; it is then tracked.
//   - Flows this machine opens (seen by Outbound) are tracked, so their
//     replies pass whatever the Matcher says.
//   - Everything else arriving from the overlay (unsolicited segments,
//     packets for another destination, fragments, ICMP other than echo,
//     malformed packets) is dropped and counted. The destination check
//     matters: with IP forwarding on, the OS would otherwise route a peer's
//     packet onward into the local network.
//   - A tracked inbound flow is checked again against a newer Matcher on its
//     next packet; if the new one denies it, the flow is cut both ways, so a
//     revoked grant also ends flows already open.
package guard

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/filter"
)

// DefaultMaxFlows bounds the flow table when Config.MaxFlows is 0.
const DefaultMaxFlows = 16384

// Flow lifetimes without traffic (the same as netstack's).
const (
	tcpOpeningTimeout     = time.Minute
	tcpEstablishedTimeout = 2 * time.Hour
	tcpClosingTimeout     = 30 * time.Second
	udpTimeout            = 2 * time.Minute
	icmpTimeout           = 30 * time.Second
)

// Reason says why Inbound dropped a packet; "" when it passed. Reasons are
// constant strings, fit for logs.
type Reason string

// Inbound verdict reasons.
const (
	Pass        Reason = ""
	Malformed   Reason = "malformed or unsupported packet"
	NotLocal    Reason = "destination is not this machine's overlay address"
	Unsolicited Reason = "belongs to no tracked flow and opens none"
	Denied      Reason = "denied by the filter"
	Revoked     Reason = "flow revoked by a filter change"
)

// Config configures a Guard.
type Config struct {
	// IPv4 and IPv6 are this machine's overlay addresses; either may be
	// zero.
	IPv4, IPv6 netip.Addr
	// MaxFlows bounds the flow table; 0 means DefaultMaxFlows.
	MaxFlows int
	// OnDenied, if set, is called on the packet path for every new flow the
	// filter denies and every flow a filter change cuts. It must not block.
	OnDenied func(Flow)
}

// Flow describes a denied or revoked inbound flow.
type Flow struct {
	Src, Dst netip.Addr
	Proto    filter.Proto
	Port     uint16
	Revoked  bool
}

// Stats are the Guard's counters since New.
type Stats struct {
	Allowed, Denied, Revoked, Unsolicited, Malformed, NotLocal uint64
	// Flows is the number of tracked flows now.
	Flows int
}

// Guard judges packets in both directions. It is safe for concurrent use.
type Guard struct {
	v4, v6   netip.Addr
	max      int
	onDenied func(Flow)
	epoch    time.Time
	// cur is the current filter with its generation; SetMatcher is its one
	// writer (serialized by setMu).
	cur   atomic.Pointer[generation]
	setMu sync.Mutex

	allowed, denied, revoked, unsolicited, malformed, notLocal atomic.Uint64

	// mu guards flows.
	mu    sync.Mutex
	flows map[flowKey]*flow
}

// generation is an immutable filter snapshot.
type generation struct {
	m   *filter.Matcher // nil denies every new inbound flow
	gen uint64
}

// New returns a Guard that denies every new inbound flow until SetMatcher.
func New(cfg Config) *Guard {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	g := &Guard{v4: cfg.IPv4, v6: cfg.IPv6, max: cfg.MaxFlows, onDenied: cfg.OnDenied, epoch: time.Now(),
		flows: map[flowKey]*flow{}}
	g.cur.Store(&generation{gen: 1})
	return g
}

// SetMatcher installs m (nil: deny all) as the inbound filter. Tracked
// inbound flows are checked against it on their next packet.
func (g *Guard) SetMatcher(m *filter.Matcher) {
	g.setMu.Lock()
	defer g.setMu.Unlock()
	g.cur.Store(&generation{m: m, gen: g.cur.Load().gen + 1})
}

// Inbound judges packet b that WireGuard decrypted from a peer, before the
// OS sees it, and says why it must be dropped (Pass: deliver it).
func (g *Guard) Inbound(b []byte) Reason {
	var p packet
	if parse(b, &p) != nil {
		g.malformed.Add(1)
		return Malformed
	}
	if !g.isLocal(p.dst) || !p.src.IsValid() || g.isLocal(p.src) {
		g.notLocal.Add(1)
		return NotLocal
	}
	k := flowKey{local: p.dst, remote: p.src, localPort: p.dstPort, remotePort: p.srcPort, proto: p.proto}
	now := g.now()
	cur := g.cur.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.lookupLocked(&k, now)
	if f == nil || (p.proto == protoTCP && p.startsFlow() && f.state == stateClosing) {
		return g.newFlowLocked(&k, &p, cur, now)
	}
	if !g.stillAllowedLocked(f, &k, cur) {
		g.unsolicited.Add(1)
		return Revoked
	}
	f.observe(&p, f.origin == fromRemote, now)
	return Pass
}

// newFlowLocked judges p, which belongs to no live flow.
func (g *Guard) newFlowLocked(k *flowKey, p *packet, cur *generation, now int64) Reason {
	if !p.startsFlow() {
		g.unsolicited.Add(1)
		return Unsolicited
	}
	if ok, _ := cur.m.Match(p.src, p.dst, filter.Proto(p.proto), p.filterPort()); !ok {
		g.denied.Add(1)
		g.report(p.src, p.dst, p.proto, p.filterPort(), false)
		return Denied
	}
	g.allowed.Add(1)
	g.insertLocked(k, fromRemote, cur.gen, now)
	return Pass
}

// Outbound looks at packet b that the OS sends into the overlay and
// reports whether to pass it to WireGuard: it tracks the flows this machine
// opens and drops packets of revoked flows.
func (g *Guard) Outbound(b []byte) bool {
	var p packet
	if parse(b, &p) != nil {
		return true // the OS's own control traffic is not tracked
	}
	k := flowKey{local: p.src, remote: p.dst, localPort: p.srcPort, remotePort: p.dstPort, proto: p.proto}
	now := g.now()
	cur := g.cur.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.lookupLocked(&k, now)
	if f == nil {
		if p.startsFlow() {
			g.insertLocked(&k, fromLocal, 0, now)
		}
		return true
	}
	if !g.stillAllowedLocked(f, &k, cur) {
		f.lastSeen = now // keep the tombstone while the local side sends
		return false
	}
	f.observe(&p, f.origin == fromLocal, now)
	return true
}

// stillAllowedLocked re-checks a remote-opened flow against a newer filter
// and cuts it when that filter denies it.
func (g *Guard) stillAllowedLocked(f *flow, k *flowKey, cur *generation) bool {
	if f.state == stateRevoked {
		return false
	}
	if f.origin != fromRemote || f.gen == cur.gen {
		return true
	}
	port := k.localPort
	if k.proto != protoTCP && k.proto != protoUDP {
		port = 0
	}
	if ok, _ := cur.m.Match(k.remote, k.local, filter.Proto(k.proto), port); ok {
		f.gen = cur.gen
		return true
	}
	f.state = stateRevoked
	g.revoked.Add(1)
	g.report(k.remote, k.local, k.proto, port, true)
	return false
}

func (g *Guard) report(src, dst netip.Addr, proto uint8, port uint16, revoked bool) {
	if g.onDenied != nil {
		g.onDenied(Flow{Src: src, Dst: dst, Proto: filter.Proto(proto), Port: port, Revoked: revoked})
	}
}

func (g *Guard) isLocal(a netip.Addr) bool {
	return a.IsValid() && (a == g.v4 || a == g.v6)
}

// now is the flow table's clock: monotonic nanoseconds since New.
func (g *Guard) now() int64 { return int64(time.Since(g.epoch)) }

// Stats snapshots the counters.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	n := len(g.flows)
	g.mu.Unlock()
	return Stats{Allowed: g.allowed.Load(), Denied: g.denied.Load(), Revoked: g.revoked.Load(),
		Unsolicited: g.unsolicited.Load(), Malformed: g.malformed.Load(), NotLocal: g.notLocal.Load(), Flows: n}
}

// Sweep forgets flows that have expired. The table also sweeps itself when
// it is full; calling Sweep now and then keeps it small.
func (g *Guard) Sweep() {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweepLocked(now)
}
