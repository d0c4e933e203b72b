package node

import (
	"net/netip"
	"slices"

	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// indexHosts fills byHost from the peers' RouteHosts (after byName): each
// name that is a DNS label, whose address lies in its router's Routes and
// that no peer is named, alone and under the fleet domain. Of two routers
// naming one device differently both names stand; of one name given two
// addresses, the lower router id's stands.
func (nm *netmap) indexHosts() {
	nm.byHost = map[string]netip.Addr{}
	ids := make([]wire.NodeID, 0, len(nm.peers))
	for id, p := range nm.peers {
		if len(p.RouteHosts) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := nm.peers[id]
		for _, h := range p.RouteHosts {
			if dnsname.CheckLabel(h.Name) != nil || !slices.ContainsFunc(p.Routes, func(r netip.Prefix) bool { return r.Contains(h.Addr) }) {
				continue
			}
			for _, name := range []string{h.Name, dnsname.FQDN(h.Name, nm.domain)} {
				if _, taken := nm.byName[name]; taken {
					continue
				}
				if _, dup := nm.byHost[name]; !dup {
					nm.byHost[name] = h.Addr.Unmap()
				}
			}
		}
	}
}

// resolve finds what peer names: a peer by name, FQDN or overlay
// address (its IPv4 address, else its IPv6, for a name), or a routed
// device by its name (see indexHosts) or address with the router this
// node reaches it through. The name is compared in dnsname.Canonical form.
func (nm *netmap) resolve(peer string) (netip.Addr, wire.Node, bool) {
	if a, err := netip.ParseAddr(peer); err == nil {
		p, ok := nm.lookup(peer)
		return a.Unmap(), p, ok
	}
	if p, ok := nm.lookup(peer); ok {
		if p.IPv4.IsValid() {
			return p.IPv4, p, true
		}
		return p.IPv6, p, true
	}
	a, ok := nm.byHost[dnsname.Canonical(peer)]
	if !ok {
		return netip.Addr{}, wire.Node{}, false
	}
	p, ok := nm.routerOf(a)
	return a, p, ok
}
