package coordinator

import (
	"net/netip"
	"slices"

	"github.com/wardnet/ward/filter"
)

// withoutDenies returns rules as a node older than wire.FeatureDenyRules
// may receive them: such a node reads a deny rule as an accept, so the
// deny rules go, and with them every accept rule a deny overlaps (same
// protocol, overlapping sources and destinations): the node loses some
// access it would have had rather than gain what a deny refuses. It would
// also keep a time-bound rule past its end, so those go too. rules with
// neither come back as they are.
func withoutDenies(rules []filter.Rule) []filter.Rule {
	var denies []filter.Rule
	timed := false
	for _, r := range rules {
		if r.Deny {
			denies = append(denies, r)
		}
		timed = timed || !r.Expires.IsZero()
	}
	if len(denies) == 0 && !timed {
		return rules
	}
	out := make([]filter.Rule, 0, len(rules)-len(denies))
	for _, r := range rules {
		if !r.Deny && r.Expires.IsZero() && !slices.ContainsFunc(denies, func(d filter.Rule) bool { return overlapsRule(r, d) }) {
			out = append(out, r)
		}
	}
	return out
}

// overlapsRule reports whether some flow could match both a and b, ports
// aside.
func overlapsRule(a, b filter.Rule) bool {
	if !slices.ContainsFunc(a.EffectiveProtos(), func(p filter.Proto) bool { return slices.Contains(b.EffectiveProtos(), p) }) {
		return false
	}
	return anyOverlap(a.Src, b.Src) && anyOverlap(dstNets(a), dstNets(b))
}

func anyOverlap(a, b []netip.Prefix) bool {
	return slices.ContainsFunc(a, func(p netip.Prefix) bool {
		return slices.ContainsFunc(b, p.Overlaps)
	})
}

func dstNets(r filter.Rule) []netip.Prefix {
	out := make([]netip.Prefix, len(r.Dst))
	for i, d := range r.Dst {
		out[i] = d.Net
	}
	return out
}
