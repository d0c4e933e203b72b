package node

import (
	"net"
	"net/netip"
	"slices"

	"github.com/wardnet/ward/wire"
)

// notAnnounced are the ranges of the host's own addresses that are never
// announced as endpoints: peers could not reach the node there, or would
// reach it through another overlay.
var notAnnounced = []netip.Prefix{
	// The shared address space (RFC 6598): carrier-grade NAT, and the
	// addresses overlays give their interfaces (Ward's own IPv4 overlay,
	// Tailscale's).
	netip.MustParsePrefix("100.64.0.0/10"),
	// Tailscale's IPv6 overlay.
	netip.MustParsePrefix("fd7a:115c:a1e0::/48"),
}

// endpoints returns the UDP endpoints to announce: the configured ones
// (as given, whatever range they are in), else 127.0.0.1 when the
// coordinator is on loopback (a development setup), else the host's
// addresses that announceable keeps; all with port (WireGuard's listen
// port) unless configured otherwise.
func (s *Session) endpoints(port uint16) []netip.AddrPort {
	if s.cfg.endpoints != nil {
		return configuredEndpoints(s.cfg.endpoints, port)
	}
	if s.client.OnLoopback() {
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)}
	}
	ifaddrs, _ := net.InterfaceAddrs()
	var addrs []netip.Addr
	for _, ad := range ifaddrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return withReflexive(s.eng.Reflexive(), localEndpoints(addrs, s.eng.Self(), port))
}

// withReflexive adds the reflexive address refl (when known and not
// already there) after the local ones in eps, within wire.MaxEndpoints:
// it is the one address a peer outside the node's network can use, and
// a peer on the same network tries the first one first.
func withReflexive(refl netip.AddrPort, eps []netip.AddrPort) []netip.AddrPort {
	if !refl.IsValid() || slices.Contains(eps, refl) {
		return eps
	}
	return append(eps[:min(len(eps), wire.MaxEndpoints-1):min(len(eps), wire.MaxEndpoints-1)], refl)
}

// configuredEndpoints returns eps (--endpoint), a port 0 replaced by
// port, at most wire.MaxEndpoints.
func configuredEndpoints(eps []netip.AddrPort, port uint16) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ep := range eps {
		if ep.Port() == 0 {
			ep = netip.AddrPortFrom(ep.Addr(), port)
		}
		out = append(out, ep)
	}
	return capEndpoints(out)
}

// localEndpoints returns the addresses of addrs that announceable keeps
// for self, with port, at most wire.MaxEndpoints.
func localEndpoints(addrs []netip.Addr, self wire.Node, port uint16) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range addrs {
		if a = a.Unmap(); announceable(a, self) {
			out = append(out, netip.AddrPortFrom(a, port))
		}
	}
	return capEndpoints(out)
}

// announceable reports whether a host address a may be announced as an
// endpoint of self: a global unicast address (private ranges included: a
// peer on the same network reaches it) that is not in notAnnounced nor
// one of self's overlay addresses (its IPv4, the /48 of its IPv6: the
// overlay's prefix, on a TUN interface).
func announceable(a netip.Addr, self wire.Node) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a == self.IPv4 {
		return false
	}
	for _, p := range notAnnounced {
		if p.Contains(a) {
			return false
		}
	}
	if self.IPv6.IsValid() {
		p, _ := self.IPv6.Prefix(48)
		return !p.Contains(a)
	}
	return true
}

func capEndpoints(eps []netip.AddrPort) []netip.AddrPort {
	return eps[:min(len(eps), wire.MaxEndpoints)]
}
