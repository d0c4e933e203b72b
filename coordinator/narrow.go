package coordinator

import (
	"net/netip"
	"slices"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
)

// narrowsFilter reports whether the node's filter, as it stands now,
// takes away something the node holds: a paced stream sends such a
// change at once, as it does removals, so that a revoked grant or a new
// deny does not wait for the pace to end. Only a pending change that may
// narrow (subscriber.mayNarrow: not a join) is looked at, so a burst of
// joins stays paced. It reports true for a node that is gone, whose
// stream sendUpdate then ends.
func (st *streamState) narrowsFilter(sub *subscriber) bool {
	if !sub.mayNarrow() {
		return false
	}
	ms, ok := st.s.nm.mapOf(st.id, []store.NodeID{}, true)
	st.s.metrics.mapBuilds.WithLabelValues("filter").Inc()
	if !ok {
		return true
	}
	rules := ms.filter
	if st.noDeny {
		rules = withoutDenies(rules)
	}
	st.sent.mu.Lock()
	held, sent := st.sent.rules, st.sent.version != 0
	st.sent.mu.Unlock()
	return sent && narrows(held, rules, st.s.nm.src)
}

// narrows reports whether a node holding the filter held loses anything
// by taking rules instead: a deny rule it does not hold, or an accept rule
// it holds that no accept rule of rules covers (same destinations,
// protocols and end or a later one, a superset of the sources). A rule
// changed in any other way counts as narrowing: the check errs towards
// sending at once.
//
// src (nil: none) knows each source list's sum and whether it is
// canonical, made once per list and shared by every stream that holds it.
func narrows(held, rules []filter.Rule, src *srcCache) bool {
	for _, r := range rules {
		if r.Deny && !slices.ContainsFunc(held, func(h filter.Rule) bool { return h.Deny && covers(h, r, src) && covers(r, h, src) }) {
			return true
		}
	}
	for _, h := range held {
		if !h.Deny && !slices.ContainsFunc(rules, func(r filter.Rule) bool { return !r.Deny && covers(r, h, src) }) {
			return true
		}
	}
	return false
}

// covers reports whether rule r matches every flow h does: the same
// protocols, each of h's destinations among r's with its ports within
// r's ports there, for at least as long, from a superset of the sources.
//
// Reason: a policy change that adds a port to a rule (8883 to
// 8883-8884) gives the rule new ports on the same destinations; when
// covering asked for equal destinations, every node holding the rule
// counted as narrowed, and at 50,000 nodes of the default shape each
// of the 1,000 gateways' whole maps (megabytes each) was made at once,
// past the map budget's order.
func covers(r, h filter.Rule, src *srcCache) bool {
	if !slices.Equal(r.Protos, h.Protos) {
		return false
	}
	for _, d := range h.Dst {
		if !slices.ContainsFunc(r.Dst, func(e filter.DstNet) bool { return e.Net == d.Net && portsWithin(d.Ports, e.Ports) }) {
			return false
		}
	}
	if !r.Expires.IsZero() && (h.Expires.IsZero() || r.Expires.Before(h.Expires)) {
		return false
	}
	if len(r.Src) < len(h.Src) {
		return false
	}
	if len(h.Src) == 0 || &r.Src[0] == &h.Src[0] {
		// The same array, r at least as long: the compiler grows a list
		// in place, so h is the start of r.
		return true
	}
	return srcWithin(h.Src, r.Src, src)
}

// srcWithin reports whether every prefix of in is one of of's: a merge of
// the two lists when both are canonical (sorted without repeats, as the
// compiler makes them: filter.IsCanonicalSrc), else through a set. With
// src (nil: none), long lists' facts come from it, and two canonical
// lists of one length and one sum (filter.SrcSum, which decides already
// whether a node's filter is sent at all) are the same list.
//
// Reason: a set of a gateway's sources (36,750 sensors at 50,000 nodes)
// made for each of 1,000 gateways on a policy change that adds a port
// was 14 of the 20 CPU-s in the change's first 20 s, and held every
// stream's narrowing check behind it.
func srcWithin(in, of []netip.Prefix, src *srcCache) bool {
	var canon bool
	if src != nil && len(in) >= srcFactsMin {
		fi, fo := src.info(in), src.info(of)
		canon = fi.canon && fo.canon
		if canon && len(in) == len(of) && fi.sum == fo.sum {
			return true
		}
	} else {
		canon = filter.IsCanonicalSrc(in) && filter.IsCanonicalSrc(of)
	}
	if canon {
		j := 0
		for _, p := range in {
			for j < len(of) && filter.ComparePrefix(of[j], p) < 0 {
				j++
			}
			if j == len(of) || of[j] != p {
				return false
			}
			j++
		}
		return true
	}
	have := make(map[netip.Prefix]struct{}, len(of))
	for _, p := range of {
		have[p] = struct{}{}
	}
	for _, p := range in {
		if _, ok := have[p]; !ok {
			return false
		}
	}
	return true
}

// portsWithin reports whether every port of ranges in lies in one range
// of of (a range split over two of of's counts as not within).
func portsWithin(in, of []filter.PortRange) bool {
	for _, p := range in {
		if !slices.ContainsFunc(of, func(o filter.PortRange) bool { return o.First <= p.First && p.Last <= o.Last }) {
			return false
		}
	}
	return true
}

// srcFactsMin is the shortest list whose facts srcWithin takes from the
// source cache: a shorter one is checked as fast as looked up.
const srcFactsMin = 64
