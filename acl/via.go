package acl

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// CapGrant is what one "app" grant gives on a node: peers whose addresses
// are in Src may use the capabilities Caps there. Ward keeps them in the
// compiled output for future use; they grant no IP traffic.
type CapGrant struct {
	Src []netip.Prefix `json:"src"`
	// Caps maps a capability name to its parameter objects, as written.
	Caps map[string][]json.RawMessage `json:"caps"`
}

// caps returns the capabilities "app" grants give on n, in policy order.
func (c *Compiled) caps(n *nodeState) []CapGrant {
	var out []CapGrant
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.caps == nil {
			continue
		}
		var src []netip.Prefix
		if cr.dstUnion.has(n.idx) {
			src = c.sources(cr)
		}
		if s := c.selfSources(cr, n); !s.empty() {
			s.each(func(i int32) { src = append(src, c.nodes[i].own...) })
			src = sortPrefixes(src)
		}
		if len(src) == 0 {
			continue
		}
		m := make(map[string][]json.RawMessage, len(cr.caps))
		for _, cp := range cr.caps {
			m[cp.Name.S] = append(m[cp.Name.S], cp.Values...)
		}
		out = append(out, CapGrant{Src: src, Caps: m})
	}
	return out
}

// ViaRoute is one destination of a grant with "via": the grant's sources
// reach Dst only through routers tagged with one of Tags, and only those
// routers enforce it.
type ViaRoute struct {
	// Dst is the grant's destination prefix (an IP, a CIDR or a hosts
	// name, resolved).
	Dst netip.Prefix `json:"dst"`
	// Tags are the grant's "via" tags, sorted.
	Tags []string `json:"tags"`
	// Routers are the nodes that carry Dst for the grant: tagged with one
	// of Tags and serving an approved route that overlaps Dst. Sorted.
	Routers []string `json:"routers"`
	// Sources are the nodes the grant's "src" covers, sorted.
	Sources []string `json:"sources"`
}

// Via lists the destinations of "via" grants that overlap dst, in policy
// order: for a route the map builder is about to hand out, which router
// tags carry it, for which sources. A source a via grant covers for a
// route should reach it through the listed routers only; a route no via
// grant covers is used as without via.
func (c *Compiled) Via(dst netip.Prefix) []ViaRoute {
	var out []ViaRoute
	type key struct {
		pos Pos
		dst netip.Prefix
	}
	seen := map[key]bool{}
	for _, cr := range c.rules {
		if len(cr.via) == 0 {
			continue
		}
		for i, e := range cr.dst {
			k := key{cr.pos, e.alias.prefix}
			if e.alias.kind != kindPrefix || !e.alias.prefix.Overlaps(dst) || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, ViaRoute{Dst: e.alias.prefix, Tags: slices.Clone(cr.via),
				Routers: c.order.namesOf(cr.dstNodes[i]), Sources: c.order.namesOf(cr.srcNodes)})
		}
	}
	return out
}

// ViaRouters answers for the node named src and a route prefix dst:
// whether a "via" grant steers src's traffic to dst (steered), and if so
// through which routers (sorted, possibly none when no router with the
// grant's tags serves dst). An unknown src is ErrUnknownNode.
func (c *Compiled) ViaRouters(src string, dst netip.Prefix) (routers []string, steered bool, err error) {
	if _, ok := c.byName[src]; !ok {
		return nil, false, fmt.Errorf("via routers of %q: %w", src, ErrUnknownNode)
	}
	for _, v := range c.Via(dst) {
		if slices.Contains(v.Sources, src) {
			steered = true
			routers = append(routers, v.Routers...)
		}
	}
	return dedupSorted(routers), steered, nil
}
