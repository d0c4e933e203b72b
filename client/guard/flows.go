package guard

import (
	"net/netip"
)

// origin says which side opened a flow.
type origin uint8

const (
	fromLocal  origin = iota + 1 // this machine opened it (Outbound)
	fromRemote                   // a peer opened it (Inbound)
)

// Flow states.
const (
	stateOpening     = iota // only the opener has sent
	stateEstablished        // both sides have sent
	stateClosing            // a FIN or RST was seen
	stateRevoked            // cut by a filter change: dropped both ways
)

// flowKey names a flow from this machine's point of view.
type flowKey struct {
	local, remote         netip.Addr
	localPort, remotePort uint16
	proto                 uint8
}

// flow is one tracked flow; its fields are guarded by Guard.mu.
type flow struct {
	origin   origin
	proto    uint8
	state    int
	lastSeen int64
	// gen is the filter generation a remote-opened flow was last allowed
	// under.
	gen uint64
}

// timeout is how long f lives without traffic.
func (f *flow) timeout() int64 {
	switch f.proto {
	case protoTCP:
		switch f.state {
		case stateOpening:
			return int64(tcpOpeningTimeout)
		case stateEstablished:
			return int64(tcpEstablishedTimeout)
		}
		return int64(tcpClosingTimeout)
	case protoUDP:
		return int64(udpTimeout)
	}
	return int64(icmpTimeout)
}

func (f *flow) expired(now int64) bool { return now-f.lastSeen > f.timeout() }

// observe updates f for packet p, sent by the opener when fromOpener.
func (f *flow) observe(p *packet, fromOpener bool, now int64) {
	f.lastSeen = now
	if f.state == stateRevoked || f.state == stateClosing {
		return
	}
	if p.proto == protoTCP && p.tcpFlags&(tcpFIN|tcpRST) != 0 {
		f.state = stateClosing
		return
	}
	if f.state == stateOpening && !fromOpener {
		f.state = stateEstablished
	}
}

// lookupLocked returns the live flow for k, or nil.
func (g *Guard) lookupLocked(k *flowKey, now int64) *flow {
	f := g.flows[*k]
	if f == nil || f.expired(now) {
		return nil
	}
	return f
}

// insertLocked tracks a new flow for k, making room when the table is full.
func (g *Guard) insertLocked(k *flowKey, o origin, gen uint64, now int64) {
	if len(g.flows) >= g.max {
		if g.sweepLocked(now) == 0 {
			g.evictOldestLocked()
		}
	}
	g.flows[*k] = &flow{origin: o, proto: k.proto, lastSeen: now, gen: gen}
}

// sweepLocked deletes expired flows and returns how many.
func (g *Guard) sweepLocked(now int64) int {
	n := 0
	for k, f := range g.flows {
		if f.expired(now) {
			delete(g.flows, k)
			n++
		}
	}
	return n
}

// evictOldestLocked deletes the least recently seen flow.
func (g *Guard) evictOldestLocked() {
	var oldest flowKey
	t := int64(1<<63 - 1)
	for k, f := range g.flows {
		if f.lastSeen < t {
			oldest, t = k, f.lastSeen
		}
	}
	delete(g.flows, oldest)
}
