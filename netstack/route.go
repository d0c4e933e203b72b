package netstack

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Subnet routing (issue 14). A Stack given routes (SetRoutes) accepts
// flows to addresses in them as if they were its own: the guard lets a
// packet to a routed address through when the Filter allows its flow (the
// Filter names each routed destination address and port), gVisor runs in
// promiscuous mode so its forwarders see the flow with the routed address
// as the local one, and the forwarder dials that address and port through
// the host's network stack. The host picks its own source address (the
// router's address on the LAN), so the device's replies come back to the
// router's socket like any connection's, and the splice carries them into
// the overlay from the routed address. Flows are tracked and cut on a
// Filter change as flows to exposed ports are.

// routeSet is an immutable snapshot of the routed prefixes.
type routeSet struct{ prefixes []netip.Prefix }

// routes holds the current routeSet; the packet path reads it without a
// lock. The zero value routes nothing.
type routes struct{ cur atomic.Pointer[routeSet] }

// has reports whether a is in a routed prefix. Loopback, multicast and
// unspecified addresses never are, whatever the routes say.
func (r *routes) has(a netip.Addr) bool {
	set := r.cur.Load()
	if set == nil || !usableUnicast(a) {
		return false
	}
	return slices.ContainsFunc(set.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// SetRoutes makes the Stack route flows to addresses in prefixes (the
// node's approved subnet routes) to the host's network, as the Filter
// allows; nil routes nothing. Flows already forwarded go on until the
// Filter cuts them.
func (s *Stack) SetRoutes(prefixes []netip.Prefix) {
	if slices.Equal(s.guard.routes.snapshot(), prefixes) {
		return
	}
	s.guard.routes.cur.Store(&routeSet{prefixes: slices.Clone(prefixes)})
	// Promiscuous: gVisor hands packets to any address to the forwarders;
	// spoofing: it answers from that address. The guard passes only
	// packets to the node's own addresses and to routed ones.
	on := len(prefixes) > 0
	s.ns.SetPromiscuousMode(nicID, on)
	s.ns.SetSpoofing(nicID, on)
}

// snapshot returns the routed prefixes (nil: none).
func (r *routes) snapshot() []netip.Prefix {
	if set := r.cur.Load(); set != nil {
		return set.prefixes
	}
	return nil
}

// dialRouted connects to dst (a routed address) through the host's
// network stack, giving up on Close.
func (s *Stack) dialRouted(network string, dst netip.AddrPort) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, localDialTimeout)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, network, dst.String())
}

// routedDst returns the flow's destination when its local address (as
// gVisor's forwarder names it) is routed rather than one of the node's.
func (s *Stack) routedDst(local tcpip.Address, port uint16) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(local.AsSlice())
	if !ok || s.guard.isLocal(a.Unmap()) || !s.guard.routes.has(a.Unmap()) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), port), true
}

// CutUnreachable ends, at once, every live flow this node opened toward
// an address reachable no longer covers (a subnet route left the node's
// map, so packets of the flow can no longer come or go): its gVisor
// endpoint is aborted, so the local side (a proxied connection) sees a
// reset rather than waiting on silence. The router cuts its side when its
// filter changes; this side may hear of the change first, and then no
// longer accepts the router's reset from the routed address.
func (s *Stack) CutUnreachable(reachable func(netip.Addr) bool) {
	for _, k := range s.guard.cutUnreachable(reachable) {
		s.abort(&k)
	}
}

// cutUnreachable revokes the live flows this node opened whose remote
// address reachable does not cover, and returns their keys (each once).
func (g *guard) cutUnreachable(reachable func(netip.Addr) bool) []flowKey {
	var cut []flowKey
	now := g.ct.now()
	g.ct.each(func(k *flowKey, f *flow) {
		if f.origin != fromLocal || f.expired(now) || reachable(k.remote) {
			return
		}
		f.state.Store(stateRevoked)
		if f.ended.CompareAndSwap(false, true) {
			cut = append(cut, *k)
		}
	})
	return cut
}
