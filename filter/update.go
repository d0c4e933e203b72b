package filter

import (
	"net/netip"
	"slices"
)

// Update returns a Matcher of rules, as Compile(rules) would match. When
// rules are m's rules with sources added to some of them and nothing
// else changed (a gateway's filter as sensors join: each join adds the
// sensor's addresses to the rules that let sensors reach it), the new
// Matcher is made from m's interval tables, the added sources merged in,
// in time linear in the table's size; otherwise it is compiled anew.
// Compiling sorts every source's boundaries and keys each interval by
// its set of rules: for a gateway whose filter lists 7,350 sensors that
// was the whole filter rebuilt at every map message a join brought. m is
// not changed; readers of it go on as before.
func (m *Matcher) Update(rules []Rule) *Matcher {
	if m == nil {
		return Compile(rules)
	}
	add, ok := addedSources(m.rules, rules)
	if !ok {
		return Compile(rules)
	}
	n := &Matcher{rules: slices.Clone(rules), v4: m.v4, v6: m.v6}
	var a4 adder[uint32]
	var a6 adder[u128]
	for i, srcs := range add {
		if len(srcs) == 0 {
			continue
		}
		r := rules[i]
		g4, g6 := ruleGrants(i, r)
		for _, s := range srcs {
			if s.Addr().Is4() {
				if len(g4) > 0 {
					lo, hi := rangeOf4(s)
					a4.add(i, lo, hi, g4)
				}
			} else if len(g6) > 0 {
				lo, hi := rangeOf6(s)
				a6.add(i, lo, hi, g6)
			}
		}
	}
	n.v4 = a4.apply(m.v4, lessU32, nextU32)
	n.v6 = a6.apply(m.v6, u128.less, u128.next)
	return n
}

// addedSources reports whether next is old with sources added to some
// rules and nothing else changed, and the sources added to each rule
// (nil for an unchanged one). Both source lists of a changed rule must be
// canonical (IsCanonicalSrc: the compiler's are) and the changed rule
// valid (Compile skips an invalid rule).
func addedSources(old, next []Rule) ([][]netip.Prefix, bool) {
	if len(old) != len(next) {
		return nil, false
	}
	add := make([][]netip.Prefix, len(next))
	for i := range next {
		a, b := &old[i], &next[i]
		if !sameButSrc(a, b) {
			return nil, false
		}
		if sameList(a.Src, b.Src) {
			continue
		}
		plus, minus, ok := DiffSrc(a.Src, b.Src, -1)
		if !ok || len(minus) > 0 || b.Validate() != nil || a.Validate() != nil {
			return nil, false
		}
		add[i] = plus
	}
	return add, true
}

// sameList reports whether a and b are the same slice (the compiler and
// wire.RulesFrom share an unchanged list) or equal.
func sameList(a, b []netip.Prefix) bool {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		return true
	}
	return slices.Equal(a, b)
}

// sameButSrc reports whether a and b are equal but for their sources.
func sameButSrc(a, b *Rule) bool {
	return a.Deny == b.Deny && a.Expires.Equal(b.Expires) && slices.Equal(a.Protos, b.Protos) &&
		slices.EqualFunc(a.Dst, b.Dst, func(x, y DstNet) bool { return x.Net == y.Net && slices.Equal(x.Ports, y.Ports) })
}

// ruleGrants are rule i's grants in each family, in Compile's order.
func ruleGrants(i int, r Rule) (g4 []grant[uint32], g6 []grant[u128]) {
	var ps protoSet
	for _, p := range r.EffectiveProtos() {
		ps.add(p)
	}
	for _, d := range r.Dst {
		for _, pr := range d.Ports {
			if d.Net.Addr().Is4() {
				lo, hi := rangeOf4(d.Net)
				g4 = append(g4, grant[uint32]{dlo: lo, dhi: hi, plo: pr.First, phi: pr.Last, rule: int32(i), protos: ps, deny: r.Deny})
			} else {
				lo, hi := rangeOf6(d.Net)
				g6 = append(g6, grant[u128]{dlo: lo, dhi: hi, plo: pr.First, phi: pr.Last, rule: int32(i), protos: ps, deny: r.Deny})
			}
		}
	}
	return g4, g6
}

// adder gathers the source ranges added to rules of one family, with
// each rule's grants in it.
type adder[K key] struct {
	pts    []addPoint[K]
	grants map[int][]grant[K]
}

// addPoint opens (d +1) or closes (d -1) an added range of rule at at.
type addPoint[K key] struct {
	at   K
	rule int
	d    int
}

func (a *adder[K]) add(rule int, lo, hi K, gs []grant[K]) {
	if a.grants == nil {
		a.grants = map[int][]grant[K]{}
	}
	a.grants[rule] = gs
	a.pts = append(a.pts, addPoint[K]{at: lo, rule: rule, d: +1}, addPoint[K]{at: hi, rule: rule, d: -1})
}

// apply returns f with the added ranges merged in: f's interval starts
// and the added ranges' boundaries, each interval's grants those of f's
// interval it lies in, with the grants of every rule whose added range
// covers it and that the list does not hold yet. Lists made from the same
// list and set of rules are shared, as Compile shares equal lists.
func (a *adder[K]) apply(f family[K], less func(a, b K) bool, next func(K) (K, bool)) family[K] {
	if len(a.pts) == 0 {
		return f
	}
	// Closing points move past the range's end; one at the address
	// space's end closes nothing.
	pts := a.pts[:0]
	for _, p := range a.pts {
		if p.d < 0 {
			n, ok := next(p.at)
			if !ok {
				continue
			}
			p.at = n
		}
		pts = append(pts, p)
	}
	slices.SortFunc(pts, func(x, y addPoint[K]) int { return cmpBy(x.at, y.at, less) })
	out := family[K]{starts: make([]K, 0, len(f.starts)+len(pts)), grants: make([][]grant[K], 0, len(f.starts)+len(pts))}
	active := map[int]int{}
	type memoKey struct {
		base *grant[K]
		n    int
		add  string
	}
	memo := map[memoKey][]grant[K]{}
	var cur []grant[K] // f's list at the current point
	i, j := 0, 0       // next of f.starts, next of pts
	for i < len(f.starts) || j < len(pts) {
		var at K
		switch {
		case j == len(pts) || (i < len(f.starts) && !less(pts[j].at, f.starts[i])):
			at = f.starts[i]
		default:
			at = pts[j].at
		}
		for ; i < len(f.starts) && f.starts[i] == at; i++ {
			cur = f.grants[i]
		}
		for ; j < len(pts) && pts[j].at == at; j++ {
			active[pts[j].rule] += pts[j].d
			if active[pts[j].rule] == 0 {
				delete(active, pts[j].rule)
			}
		}
		gs := cur
		if len(active) > 0 {
			var missing []int
			for r := range active {
				if !slices.ContainsFunc(cur, func(g grant[K]) bool { return int(g.rule) == r }) {
					missing = append(missing, r)
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				k := memoKey{n: len(cur), add: ruleSetKey(missing)}
				if len(cur) > 0 {
					k.base = &cur[0]
				}
				var ok bool
				if gs, ok = memo[k]; !ok {
					gs = slices.Clone(cur)
					for _, r := range missing {
						gs = insertGrants(gs, a.grants[r])
					}
					memo[k] = gs
				}
			}
		}
		if n := len(out.grants); n > 0 && sameGrants(out.grants[n-1], gs) {
			continue
		}
		out.starts = append(out.starts, at)
		out.grants = append(out.grants, gs)
	}
	return out
}

// sameGrants reports whether a and b are the same list (shared) or equal.
func sameGrants[K key](a, b []grant[K]) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}

// insertGrants puts the grants of one rule (all of one kind, in their
// order) into gs, which holds none of that rule, where Compile's order
// puts them: denies first, each kind by rule.
func insertGrants[K key](gs, add []grant[K]) []grant[K] {
	r := add[0]
	at := len(gs)
	for k, g := range gs {
		if (r.deny && !g.deny) || (r.deny == g.deny && r.rule < g.rule) {
			at = k
			break
		}
	}
	return slices.Insert(gs, at, add...)
}

// ruleSetKey is a set of rule indexes (sorted) as a map key.
func ruleSetKey(rules []int) string {
	b := make([]byte, 0, 4*len(rules))
	for _, r := range rules {
		b = append(b, byte(r>>24), byte(r>>16), byte(r>>8), byte(r))
	}
	return string(b)
}
