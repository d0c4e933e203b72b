package acl

import (
	"net/netip"
	"slices"
	"time"

	"github.com/wardnet/ward/filter"
)

// Step-up MFA on the data plane. A risk class's "mfaWithin" lets a person
// reach its devices only while their last login with a second factor is
// that recent. The compiled policy is not changed: GateMFA rewrites one
// destination's compiled filter for the people's current logins, so the
// gate is one more pure stage after Filter:
//
//   - a person whose last second factor is older than the window (or who
//     never showed one) is refused by a deny rule naming their nodes'
//     addresses, ahead of every accept (a broad "*" source included);
//   - a person within the window keeps each accept rule that covers them,
//     split off into a rule of their own whose Expires is the window's end
//     (or the rule's own, if sooner), and taken out of the rule it came
//     from; so their access ends on the device's own clock even while the
//     coordinator is unreachable, as a just-in-time grant does.
//
// Tagged nodes are not people: they are never gated.

// allPorts covers every port of a destination.
var allPorts = []filter.PortRange{{First: 0, Last: 65535}}

// MFAWindow returns how recent a second factor must be for a person to
// reach the node named name (its risk class's MFAWithin); 0 when its
// class requires none or the node is unknown.
func (c *Compiled) MFAWindow(name string) time.Duration {
	i, ok := c.byName[name]
	if !ok {
		return 0
	}
	rc, _ := c.rs.RiskClass(c.nodes[i].risk)
	return rc.MFAWithin
}

// GateMFA returns rules, the filter of the node named name, gated on
// step-up MFA at now (see above): mfaAt maps a person's email to their
// last login with a second factor. It also returns the earliest time a
// person's window in the result ends (zero when none does), when the
// caller must gate again. rules are returned unchanged when the node's
// class requires no MFA; they are never modified.
func (c *Compiled) GateMFA(name string, rules []filter.Rule, mfaAt map[string]time.Time, now time.Time) ([]filter.Rule, time.Time) {
	window := c.MFAWindow(name)
	if window <= 0 || len(rules) == 0 {
		return rules, time.Time{}
	}
	dev := c.nodes[c.byName[name]]
	fresh, stale, next := c.peopleByMFA(dev, window, mfaAt, now)
	out := make([]filter.Rule, 0, len(rules)+1)
	var protos []filter.Proto
	for _, r := range rules {
		if r.Deny {
			out = append(out, r)
			continue
		}
		for _, p := range effectiveProtos(r.Protos) {
			if !slices.Contains(protos, p) {
				protos = append(protos, p)
			}
		}
		out = append(out, splitFresh(r, fresh)...)
	}
	if !slices.ContainsFunc(out, func(r filter.Rule) bool { return !r.Deny }) {
		return []filter.Rule{}, next
	}
	if len(stale) > 0 {
		var dst []filter.DstNet
		for _, p := range append(slices.Clip(dev.own), dev.Routes...) {
			dst = append(dst, filter.DstNet{Net: p, Ports: allPorts})
		}
		slices.Sort(protos)
		out = slices.Insert(out, 0, filter.Rule{Src: sortPrefixes(stale), Dst: dst, Protos: protos, Deny: true})
	}
	return out, next
}

// peopleByMFA sorts the people's nodes (dev excluded) into those within
// the window (each address with the window's end), ascending by address,
// and the addresses of the others; next is the earliest end.
func (c *Compiled) peopleByMFA(dev *nodeState, window time.Duration, mfaAt map[string]time.Time, now time.Time) (fresh []freshAddr, stale []netip.Prefix, next time.Time) {
	for _, p := range c.nodes {
		if p == nil || !p.isMember() || p.idx == dev.idx {
			continue
		}
		at, ok := mfaAt[p.User]
		until := at.Add(window)
		if !ok || at.IsZero() || !now.Before(until) {
			stale = append(stale, p.own...)
			continue
		}
		for _, a := range p.own {
			fresh = append(fresh, freshAddr{a, until})
		}
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	slices.SortFunc(fresh, func(x, y freshAddr) int { return comparePrefix(x.addr, y.addr) })
	return fresh, stale, next
}

// freshAddr is a person's node address and the end of their window.
type freshAddr struct {
	addr  netip.Prefix
	until time.Time
}

// splitFresh takes the fresh people's addresses out of accept rule r's
// sources and gives each the rule again, ending at the end of their
// window (or r's, if sooner): r's remainder first (if any source is
// left), then one rule per end, soonest first.
func splitFresh(r filter.Rule, fresh []freshAddr) []filter.Rule {
	src := r.Src
	byEnd := map[time.Time][]netip.Prefix{}
	var ends []time.Time
	for _, f := range fresh {
		var covered bool
		src, covered = withoutAddr(src, f.addr)
		if !covered {
			continue
		}
		end := f.until
		if !r.Expires.IsZero() && r.Expires.Before(end) {
			end = r.Expires
		}
		if _, ok := byEnd[end]; !ok {
			ends = append(ends, end)
		}
		byEnd[end] = append(byEnd[end], f.addr)
	}
	var out []filter.Rule
	if len(src) > 0 {
		rest := r
		rest.Src = sortPrefixes(src)
		out = append(out, rest)
	}
	slices.SortFunc(ends, time.Time.Compare)
	for _, e := range ends {
		g := r
		g.Src, g.Expires = byEnd[e], e
		out = append(out, g)
	}
	return out
}

// withoutAddr returns src without the single address a: a prefix equal
// to it goes, a wider one that holds it is split around it. covered
// tells whether any prefix held a. src is not modified.
func withoutAddr(src []netip.Prefix, a netip.Prefix) ([]netip.Prefix, bool) {
	var out []netip.Prefix
	covered := false
	for _, p := range src {
		if !p.Contains(a.Addr()) {
			out = append(out, p)
			continue
		}
		covered = true
		out = append(out, splitAround(p, a.Addr())...)
	}
	return out, covered
}

// splitAround returns the prefixes that cover p except the address a
// inside it: at each bit below p's length, the half without a.
func splitAround(p netip.Prefix, a netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for bits := p.Bits() + 1; bits <= a.BitLen(); bits++ {
		half := netip.PrefixFrom(a, bits).Masked()
		out = append(out, sibling(half))
	}
	return out
}

// sibling returns the other half of p's parent prefix.
func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits())
}
