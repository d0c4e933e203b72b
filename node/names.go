package node

import (
	"net/netip"

	"github.com/wardnet/ward/dnsname"
)

// FleetDomain returns the fleet's DNS domain from the last full map;
// empty before one, or from a coordinator before protocol 15.
func (e *Engine) FleetDomain() string { return e.nm.Load().domain }

// LookupFQDN returns the overlay addresses of the node itself or of the
// active peer whose FQDN in the map is name (case-insensitive, an
// optional trailing dot); ok is false for any other name, a short name
// included. It never blocks: the overlay resolver calls it per question.
func (e *Engine) LookupFQDN(name string) (v4, v6 netip.Addr, ok bool) {
	nm := e.nm.Load()
	name = dnsname.Canonical(name)
	if nm.self.FQDN != "" && dnsname.Canonical(nm.self.FQDN) == name {
		return nm.self.IPv4, nm.self.IPv6, true
	}
	p, ok := nm.lookup(name)
	if !ok || dnsname.Canonical(p.FQDN) != name || expired(p, e.cfg.Clock()) {
		return netip.Addr{}, netip.Addr{}, false
	}
	return p.IPv4, p.IPv6, true
}
