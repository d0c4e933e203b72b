package node

import (
	"net/netip"
	"strings"

	"github.com/wardnet/ward/dnsname"
)

// FleetDomain returns the fleet's DNS domain from the last full map;
// empty before one, or from a coordinator before protocol 15.
func (e *Engine) FleetDomain() string { return e.nm.Load().domain }

// LookupFQDN returns the overlay addresses of the node itself or of the
// active peer whose FQDN in the map is name (case-insensitive, an
// optional trailing dot), or the address of the routed device named so
// under the fleet domain (the map's RouteHosts) as v4 or v6 by its
// family; ok is false for any other name, a short name included. It
// never blocks: the overlay resolver calls it per question.
func (e *Engine) LookupFQDN(name string) (v4, v6 netip.Addr, ok bool) {
	nm := e.nm.Load()
	name = dnsname.Canonical(name)
	if nm.self.FQDN != "" && dnsname.Canonical(nm.self.FQDN) == name {
		return nm.self.IPv4, nm.self.IPv6, true
	}
	if nm.domain == "" || !strings.HasSuffix(name, "."+nm.domain) {
		return netip.Addr{}, netip.Addr{}, false
	}
	a, p, ok := nm.resolve(name)
	switch {
	case !ok || expired(p, e.cfg.Clock()):
		return netip.Addr{}, netip.Addr{}, false
	case a != p.IPv4 && a != p.IPv6 && a.Is4():
		return a, netip.Addr{}, true
	case a != p.IPv4 && a != p.IPv6:
		return netip.Addr{}, a, true
	case dnsname.Canonical(p.FQDN) != name:
		return netip.Addr{}, netip.Addr{}, false
	}
	return p.IPv4, p.IPv6, true
}
