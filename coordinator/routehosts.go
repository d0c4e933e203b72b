package coordinator

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// Names of routed devices (issue 14). The policy's "hosts" entries that
// name one address are names of devices behind subnet routers: a viewer's
// record of a router carries those inside the routes it sends through
// that router which the router's filter lets it reach on some port, so a
// name tells a viewer nothing its map does not already grant.

// routeHostsOf returns rs's single-address hosts whose lowercased name is
// a DNS label, the first of names equal but for case; nil for a nil rs.
func routeHostsOf(rs *acl.Ruleset) []acl.HostAddr {
	if rs == nil {
		return nil
	}
	var out []acl.HostAddr
	for _, h := range rs.HostAddrs() {
		h.Name = strings.ToLower(h.Name)
		if dnsname.CheckLabel(h.Name) != nil || slices.ContainsFunc(out, func(o acl.HostAddr) bool { return o.Name == h.Name }) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// viewerHosts returns the names of p.hosts the viewer with addresses self
// may use through p: inside one of routes (the viewer's routes through p)
// and reachable on some port under p's filter.
func (m *netmap) viewerHosts(p mapPeer, self []netip.Addr, routes []netip.Prefix) []wire.RouteHost {
	var out []wire.RouteHost
	for _, h := range p.hosts {
		if !slices.ContainsFunc(routes, func(r netip.Prefix) bool { return r.Contains(h.Addr) }) {
			continue
		}
		if len(m.src.grantsOf(p.rules, self, []netip.Addr{h.Addr})) > 0 {
			out = append(out, wire.RouteHost{Name: h.Name, Addr: h.Addr})
		}
	}
	return out
}

// routeSetKey appends the key of a viewer's routes and route names
// through a peer to b.
func routeSetKey(b []byte, rs []netip.Prefix, hosts []wire.RouteHost) []byte {
	b = routeKey(b, rs)
	b = binary.AppendUvarint(b, uint64(len(hosts)))
	for _, h := range hosts {
		b = binary.AppendUvarint(b, uint64(len(h.Name)))
		b = append(b, h.Name...)
		a := h.Addr.As16()
		b = append(b, a[:]...)
	}
	return b
}

// internRoutes returns the id and JSON members ("routes", and
// "route_hosts" when there are names) of a viewer's routes and route
// names through a peer in t (a table of route sets, not of grants); no
// routes is noGrants.
func (t *grantTable) internRoutes(rs []netip.Prefix, hosts []wire.RouteHost) (uint32, []byte) {
	if len(rs) == 0 {
		return noGrants, nil
	}
	var buf [96]byte
	made := false
	id, enc := t.internKey(routeSetKey(buf[:0], rs, hosts), func() []byte {
		made = true
		r, _ := json.Marshal(rs)
		b := append([]byte(`"routes":`), r...)
		if len(hosts) > 0 {
			h, _ := json.Marshal(hosts)
			b = append(append(b, `,"route_hosts":`...), h...)
		}
		return b
	})
	if made {
		t.mu.Lock()
		if _, ok := t.routeSets[id]; !ok {
			if t.routeSets == nil {
				t.routeSets = map[uint32]routeSet{}
			}
			t.routeSets[id] = routeSet{rs, hosts}
		}
		t.mu.Unlock()
	}
	return id, enc
}

// routeSet is a viewer's routes and route names through a peer, as
// internRoutes was given them (for a record's binary form).
type routeSet struct {
	routes []netip.Prefix
	hosts  []wire.RouteHost
}

// routeSet returns the routes of id (internRoutes' ids); false for an id
// it did not make.
func (t *grantTable) routeSet(id uint32) (routeSet, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.routeSets[id]
	return r, ok
}
