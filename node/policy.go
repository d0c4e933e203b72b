package node

import (
	"net/netip"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/netstack"
)

// PingPort is the overlay UDP port on which every node answers ward pings
// (see Engine.Ping). Only the agent's echo listens there; it is never
// forwarded to a local service.
const PingPort uint16 = 41641

// policy adapts a compiled filter.Matcher to netstack.Filter. It is
// immutable: the Engine builds a new one whenever the filter or the set of
// active peers changes and swaps it in with Stack.SetFilter.
type policy struct {
	m *filter.Matcher
	// peers are the overlay addresses of the active (configured, not
	// expired) peers; only they may reach the ping echo.
	peers map[netip.Addr]struct{}
}

var _ netstack.Filter = (*policy)(nil)

// Allow implements netstack.Filter: a flow passes when the coordinator's
// filter allows it, or when it is an active peer's ping to PingPort.
func (p *policy) Allow(src, dst netip.Addr, proto uint8, dstPort uint16) bool {
	if proto == netstack.ProtoUDP && dstPort == PingPort {
		_, ok := p.peers[src]
		return ok
	}
	ok, _ := p.m.Match(src, dst, filter.Proto(proto), dstPort)
	return ok
}
