package acl

import (
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/wardnet/ward/filter"
)

// index resolves aliases to node sets for a full compile, caching each
// distinct alias.
type index struct {
	c      *Compiled
	all    bitset
	member bitset
	tagged bitset
	byTag  map[string]*bitset
	byRisk map[string]*bitset
	cache  map[string]bitset
}

func (c *Compiled) newIndex() *index {
	ix := &index{c: c, byTag: map[string]*bitset{}, byRisk: map[string]*bitset{}, cache: map[string]bitset{}}
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		ix.all.set(n.idx)
		if ix.byRisk[n.risk] == nil {
			ix.byRisk[n.risk] = &bitset{}
		}
		ix.byRisk[n.risk].set(n.idx)
		switch {
		case n.tagged:
			ix.tagged.set(n.idx)
			for _, t := range n.Tags {
				b := ix.byTag[t]
				if b == nil {
					b = &bitset{}
					ix.byTag[t] = b
				}
				b.set(n.idx)
			}
		case n.User != "":
			ix.member.set(n.idx)
		}
	}
	return ix
}

// nodes returns the set of nodes alias a covers. The result is shared: the
// caller must not modify it.
func (ix *index) nodes(a alias) bitset {
	if s, ok := ix.cache[a.text]; ok {
		return s
	}
	var s bitset
	switch a.kind {
	case kindAny:
		s = ix.all
	case kindMember:
		s = ix.member
	case kindTagged:
		s = ix.tagged
	case kindTag:
		if b := ix.byTag[a.name]; b != nil {
			s = *b
		}
	case kindRisk:
		if b := ix.byRisk[a.name]; b != nil {
			s = *b
		}
	case kindUser:
		if b := ix.c.userNodes[a.name]; b != nil {
			s = *b
		}
	case kindDomain:
		for u, b := range ix.c.userNodes {
			if inDomain(u, a.name) {
				s.or(*b)
			}
		}
	case kindGroup:
		for _, u := range ix.c.rs.groups[a.name] {
			if b := ix.c.userNodes[u]; b != nil {
				s.or(*b)
			}
		}
	case kindPrefix:
		for _, n := range ix.c.nodes {
			if n != nil && n.overlaps(a.prefix) {
				s.set(n.idx)
			}
		}
	}
	ix.cache[a.text] = s
	return s
}

// srcSplitMin is the length from which a rule whose sources hold both
// address families goes out as two filter rules, one per family (same
// destinations, protocols, deny and end: together they match what the
// one would). A list of both families in canonical order (IPv4 first)
// cannot grow by a node's two addresses in place, so each join would copy
// it whole: at 50,000 nodes a gateway's rule lists 73,500 prefixes, and
// registering the fleet allocated O(fleet²) bytes. Each family's list
// grows in place (insertShared), and every filter holding an older
// version shares its array. Shorter lists stay whole, as policies and
// their tests read them.
var srcSplitMin atomic.Int64

func init() { srcSplitMin.Store(64) }

// SetSrcSplitMin sets the length from which a source list of both
// families goes out split by family (64), for tests elsewhere that check
// the split lists on small fleets, and returns what restores it.
func SetSrcSplitMin(n int) (restore func()) {
	old := srcSplitMin.Swap(int64(n))
	return func() { srcSplitMin.Store(old) }
}

// srcFamilies returns cr's source prefixes of each family, sorted without
// repeats, computing them when stale. The results are cut to their length
// (a caller's append copies) and never change.
func (c *Compiled) srcFamilies(cr *crule) (v4, v6 []netip.Prefix) {
	if !cr.srcOK {
		var a, b []netip.Prefix
		add := func(p netip.Prefix) {
			if p.Addr().Is4() {
				a = append(a, p)
			} else {
				b = append(b, p)
			}
		}
		if cr.srcAny {
			add(netip.MustParsePrefix("0.0.0.0/0"))
			add(netip.MustParsePrefix("::/0"))
		} else {
			for _, p := range cr.srcLiterals {
				add(p)
			}
			cr.srcIdent.each(func(i int32) {
				for _, p := range c.nodes[i].own {
					add(p)
				}
			})
			a, b = withRoom(sortPrefixes(a)), withRoom(sortPrefixes(b))
		}
		cr.src4, cr.src6, cr.srcOK, cr.srcBoth = a, b, true, nil
	}
	cr.seen4, cr.seen6 = len(cr.src4), len(cr.src6)
	return slices.Clip(cr.src4), slices.Clip(cr.src6)
}

// sourceLists returns the source lists of the filter rules cr makes: one
// (b nil) unless its sources hold both families and srcSplitMin prefixes
// or more, then IPv4's and IPv6's. A list of both families is cached in
// cr, so every filter the rule reaches shares it.
func (c *Compiled) sourceLists(cr *crule) (a, b []netip.Prefix) {
	v4, v6 := c.srcFamilies(cr)
	switch {
	case len(v4) == 0:
		return v6, nil
	case len(v6) == 0:
		return v4, nil
	case int64(len(v4)+len(v6)) >= srcSplitMin.Load():
		return v4, v6
	}
	if cr.srcBoth == nil {
		cr.srcBoth = slices.Clip(slices.Concat(v4, v6))
	}
	return cr.srcBoth, nil
}

// sources returns cr's source prefixes as one sorted list, for a caller
// that may keep or change it.
func (c *Compiled) sources(cr *crule) []netip.Prefix {
	v4, v6 := c.srcFamilies(cr)
	return slices.Concat(v4, v6)
}

// addSource adds ns's addresses to cr's cached source prefixes, if any
// (stale stays stale).
func addSource(cr *crule, ns *nodeState) {
	if !cr.srcOK || cr.srcAny {
		return
	}
	for _, p := range ns.own {
		if p.Addr().Is4() {
			cr.src4 = insertShared(cr.src4, &cr.seen4, p)
		} else {
			cr.src6 = insertShared(cr.src6, &cr.seen6, p)
		}
	}
	cr.srcBoth = nil
}

// insertShared returns the sorted list with p added. Views of list's
// array up to *seen have been handed out, so nothing below that may
// change: p sorting at or after *seen goes in place while the array has
// room (appended, or moving the few unseen prefixes after it up by one),
// else in a grown array (room for a quarter more, so a run of joins
// copies O(1) amortized each); p sorting among what was seen copies the
// list. A new array sets *seen to 0.
func insertShared(list []netip.Prefix, seen *int, p netip.Prefix) []netip.Prefix {
	i, found := slices.BinarySearchFunc(list, p, comparePrefix)
	if found {
		return list
	}
	if i >= *seen && len(list) < cap(list) {
		list = list[:len(list)+1]
		copy(list[i+1:], list[i:])
		list[i] = p
		return list
	}
	out := roomFor(len(list) + 1)
	out = append(out, list[:i]...)
	out = append(out, p)
	*seen = 0
	return append(out, list[i:]...)
}

// withRoom returns list in an array with room to grow (roomFor), so the
// joins after a compile or a copy append in place.
func withRoom(list []netip.Prefix) []netip.Prefix {
	if len(list) == 0 {
		return list
	}
	return append(roomFor(len(list)), list...)
}

// roomFor returns an empty list with room for n prefixes and a quarter
// more (at least 4).
func roomFor(n int) []netip.Prefix {
	return make([]netip.Prefix, 0, n+n/4+4)
}

// removeSource removes ns's addresses from cr's cached source prefixes,
// except those a literal or another source node still provides. A list
// that loses an address is copied (views of the old one are out).
func (c *Compiled) removeSource(cr *crule, ns *nodeState) {
	if !cr.srcOK || cr.srcAny {
		return
	}
	for _, p := range ns.own {
		if c.providedByOther(cr, ns.idx, p) {
			continue
		}
		l, seen := &cr.src6, &cr.seen6
		if p.Addr().Is4() {
			l, seen = &cr.src4, &cr.seen4
		}
		if i, found := slices.BinarySearchFunc(*l, p, comparePrefix); found {
			*l, *seen = append(append(roomFor(len(*l)-1), (*l)[:i]...), (*l)[i+1:]...), 0
		}
	}
	cr.srcBoth = nil
}

// providedByOther reports whether p is one of cr's literals or an address
// of a source node other than idx.
func (c *Compiled) providedByOther(cr *crule, idx int32, p netip.Prefix) bool {
	found := slices.Contains(cr.srcLiterals, p)
	if !found {
		cr.srcIdent.each(func(j int32) { found = found || j != idx && slices.Contains(c.nodes[j].own, p) })
	}
	return found
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, comparePrefix)
	return slices.Compact(ps)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// filter builds n's inbound filter, in policy order, and each rule's origin.
func (c *Compiled) filter(n *nodeState) ([]filter.Rule, []Pos) {
	rules := []filter.Rule{}
	var origins []Pos
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.caps != nil {
			continue // app capabilities grant no IP traffic
		}
		if cr.dstUnion.has(n.idx) {
			var dst []filter.DstNet
			for i, e := range cr.dst {
				if cr.dstNodes[i].has(n.idx) {
					dst = appendDsts(dst, e, n, len(cr.via) > 0)
				}
			}
			// A rule whose sources match no node and name no address
			// (an empty group, a tag nobody holds yet) grants nothing.
			if a, b := c.sourceLists(cr); len(dst) > 0 && len(a) > 0 {
				rules = append(rules, filter.Rule{Src: a, Dst: dst, Protos: cr.protos, Deny: cr.deny, Expires: cr.expires})
				origins = append(origins, cr.pos)
				if len(b) > 0 {
					rules = append(rules, filter.Rule{Src: b, Dst: dst, Protos: cr.protos, Deny: cr.deny, Expires: cr.expires})
					origins = append(origins, cr.pos)
				}
			}
		}
		if r, ok := c.selfRule(cr, n); ok {
			rules = append(rules, r)
			origins = append(origins, cr.pos)
		}
	}
	if !slices.ContainsFunc(rules, func(r filter.Rule) bool { return !r.Deny }) {
		// Deny rules refuse only what accepts allow: alone they are noise.
		return []filter.Rule{}, nil
	}
	return rules, origins
}

// appendDsts adds the part of destination e that lies on node n: on its
// routes only when routesOnly (n is a "via" router for e).
func appendDsts(dst []filter.DstNet, e dstEntry, n *nodeState, routesOnly bool) []filter.DstNet {
	add := func(p netip.Prefix) { dst = append(dst, filter.DstNet{Net: p, Ports: e.ports}) }
	own := n.own
	if routesOnly {
		own = nil
	}
	switch e.alias.kind {
	case kindPrefix:
		for _, q := range append(slices.Clip(own), n.Routes...) {
			if e.alias.prefix.Overlaps(q) {
				if q.Bits() > e.alias.prefix.Bits() {
					add(q)
				} else {
					add(e.alias.prefix)
				}
			}
		}
	case kindAny:
		for _, q := range n.own {
			add(q)
		}
		for _, q := range n.Routes {
			add(q)
		}
	default:
		for _, q := range n.own {
			add(q)
		}
	}
	return dst
}

// selfSources returns the nodes allowed to reach user-owned node n under
// cr's autogroup:self destinations: n's owner's nodes that match cr's src.
func (c *Compiled) selfSources(cr *crule, n *nodeState) bitset {
	if !cr.self || n.tagged || n.User == "" {
		return nil
	}
	own := c.userNodes[n.User]
	if own == nil {
		return nil
	}
	return own.and(cr.srcNodes)
}

func (c *Compiled) selfRule(cr *crule, n *nodeState) (filter.Rule, bool) {
	s := c.selfSources(cr, n)
	if s.empty() {
		return filter.Rule{}, false
	}
	var src []netip.Prefix
	s.each(func(i int32) { src = append(src, c.nodes[i].own...) })
	var ports []filter.PortRange
	for _, e := range cr.dst {
		if e.alias.kind == kindSelf {
			ports = append(ports, e.ports...)
		}
	}
	var dst []filter.DstNet
	for _, q := range n.own {
		dst = append(dst, filter.DstNet{Net: q, Ports: ports})
	}
	return filter.Rule{Src: sortPrefixes(src), Dst: dst, Protos: cr.protos, Deny: cr.deny, Expires: cr.expires}, len(dst) > 0
}

// peerSet returns the nodes n may see: those it can reach and those that
// can reach it (n itself excluded). Deny rules make no peers.
func (c *Compiled) peerSet(n *nodeState) bitset {
	acc := make(bitset, 0, (len(c.nodes)+63)/64)
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.deny {
			continue
		}
		if cr.dstUnion.has(n.idx) {
			acc.or(cr.srcNodes)
		}
		if cr.srcNodes.has(n.idx) {
			acc.or(cr.dstUnion)
		}
		if s := c.selfSources(cr, n); !s.empty() {
			acc.or(s)
			if s.has(n.idx) {
				acc.or(*c.userNodes[n.User])
			}
		}
	}
	acc.clear(n.idx)
	return acc
}

func (c *Compiled) peers(n *nodeState) []string {
	return c.order.namesOf(c.peerSet(n))
}
