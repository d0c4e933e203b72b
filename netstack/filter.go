package netstack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Filter decides whether a peer may open a new inbound flow. It is the seam
// between the node's compiled policy and the packet path.
type Filter interface {
	// Allow reports whether src may open a flow to dst (one of this node's
	// overlay addresses) with transport protocol proto (ProtoTCP, ProtoUDP,
	// ProtoICMP or ProtoICMPv6) to dstPort (0 for ICMP). The Stack calls it
	// on the packet path, from several goroutines at once, for the first
	// packet of each new inbound flow and again for each tracked inbound
	// flow after the Filter is replaced. It must not block, must not
	// allocate much and must not call back into the Stack.
	Allow(src, dst netip.Addr, proto uint8, dstPort uint16) bool
}

// FilterFunc adapts a function to the Filter interface.
type FilterFunc func(src, dst netip.Addr, proto uint8, dstPort uint16) bool

// Allow implements Filter by calling f.
func (f FilterFunc) Allow(src, dst netip.Addr, proto uint8, dstPort uint16) bool {
	return f(src, dst, proto, dstPort)
}

// DeniedFlow describes a flow the Filter refused, for Config.OnDenied.
type DeniedFlow struct {
	// Src is the peer's overlay address that tried to open the flow.
	Src netip.Addr
	// Dst is this node's overlay address it was sent to.
	Dst netip.Addr
	// Proto is the transport protocol (ProtoTCP, ProtoUDP, ProtoICMP or
	// ProtoICMPv6).
	Proto uint8
	// Port is the destination port; 0 for ICMP.
	Port uint16
	// Time is when the packet was judged.
	Time time.Time
	// Revoked is true when the flow had been allowed and was cut because a
	// newer Filter denies it; false for a new flow that was never allowed.
	Revoked bool
}

// Stats are the Stack's filter counters, each counted since New.
type Stats struct {
	// Allowed counts new inbound flows the Filter allowed.
	Allowed uint64
	// Denied counts new inbound flows the Filter denied.
	Denied uint64
	// Revoked counts tracked inbound flows cut by a Filter change.
	Revoked uint64
	// Unserved counts allowed new inbound flows to a port no service is
	// exposed or listening on: TCP ones are answered with a reset, others
	// dropped.
	Unserved uint64
	// Unsolicited counts inbound packets dropped because they neither
	// belong to a tracked flow nor open a new one (a TCP segment without
	// SYN, an echo reply nobody asked for, a packet for another address,
	// any packet of a revoked flow).
	Unsolicited uint64
	// Malformed counts inbound packets dropped because they could not be
	// judged: truncated, bad header lengths, unknown IP version, IP
	// fragments, IPv6 routing or too many extension headers, transport
	// protocols other than TCP, UDP and ICMP echo.
	Malformed uint64
	// OutboundDropped counts packets from gVisor dropped on their way out:
	// packets of a revoked flow, or the outbound queue was full.
	OutboundDropped uint64
	// Evicted counts tracked flows evicted because the table was full.
	Evicted uint64
	// Flows is the number of entries in the flow table now.
	Flows int
}

// counters are the atomic counterparts of Stats.
type counters struct {
	allowed, denied, revoked, unserved atomic.Uint64
	unsolicited, malformed, outDropped atomic.Uint64
}

// filterState is an immutable Filter snapshot with its generation.
type filterState struct {
	filter Filter // nil denies every new inbound flow
	gen    uint64
}

// filterHolder holds the current Filter; SetFilter is its one writer.
type filterHolder struct {
	cur atomic.Pointer[filterState]
	// mu serializes writers so generations are stored in order.
	mu sync.Mutex
}

func (h *filterHolder) init() {
	h.cur.Store(&filterState{gen: 1})
}

// set installs f with the next generation.
func (h *filterHolder) set(f Filter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur.Store(&filterState{filter: f, gen: h.cur.Load().gen + 1})
}

// allow asks the snapshot's Filter; a nil Filter denies.
func (fs *filterState) allow(p *packet) bool {
	return fs.filter != nil && fs.filter.Allow(p.src, p.dst, p.proto, p.filterPort())
}
