package filter

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Matcher is a compiled, immutable filter. It is safe for concurrent use and
// Match does not allocate. Build one with Compile; swap whole Matchers (for
// example behind an atomic.Pointer) when the rules change.
type Matcher struct {
	v4    family[uint32]
	v6    family[u128]
	rules []Rule
}

// u128 is an IPv6 address as two big-endian halves.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

// key is an address in one family's numeric form.
type key interface{ uint32 | u128 }

// family is the source-interval table of one address family. starts holds
// the sorted first address of each interval; grants[i] applies to sources in
// [starts[i], starts[i+1]).
type family[K key] struct {
	starts []K
	grants [][]grant[K]
}

// grant is one (destination range, port range, protocols) permission, or
// refusal when deny is set. An interval's grants list the denies first.
type grant[K key] struct {
	dlo, dhi K
	plo, phi uint16
	rule     int32
	protos   protoSet
	deny     bool
}

// protoSet is a bitmap of IP protocol numbers.
type protoSet [4]uint64

func (s *protoSet) add(p Proto)      { s[p>>6] |= 1 << (p & 63) }
func (s *protoSet) has(p Proto) bool { return s[p>>6]&(1<<(p&63)) != 0 }
func (g *grant[K]) port(p Proto, port uint16) bool {
	return !p.HasPorts() || (g.plo <= port && port <= g.phi)
}

// Compile builds a Matcher from rules. Rules that fail Validate are skipped
// entirely (fail closed): the caller validates first to report them.
func Compile(rules []Rule) *Matcher {
	m := &Matcher{rules: slices.Clone(rules)}
	var b4 builder[uint32]
	var b6 builder[u128]
	for i, r := range rules {
		if r.Validate() != nil {
			continue
		}
		var ps protoSet
		for _, p := range r.EffectiveProtos() {
			ps.add(p)
		}
		for _, s := range r.Src {
			if s.Addr().Is4() {
				lo, hi := rangeOf4(s)
				b4.addSrc(i, lo, hi)
			} else {
				lo, hi := rangeOf6(s)
				b6.addSrc(i, lo, hi)
			}
		}
		for _, d := range r.Dst {
			for _, pr := range d.Ports {
				if d.Net.Addr().Is4() {
					lo, hi := rangeOf4(d.Net)
					b4.addGrant(i, grant[uint32]{dlo: lo, dhi: hi, plo: pr.First, phi: pr.Last, rule: int32(i), protos: ps, deny: r.Deny})
				} else {
					lo, hi := rangeOf6(d.Net)
					b6.addGrant(i, grant[u128]{dlo: lo, dhi: hi, plo: pr.First, phi: pr.Last, rule: int32(i), protos: ps, deny: r.Deny})
				}
			}
		}
	}
	m.v4 = b4.build(lessU32, nextU32)
	m.v6 = b6.build(u128.less, u128.next)
	return m
}

// Rules returns the rules m was compiled from. The caller must not modify them.
func (m *Matcher) Rules() []Rule { return m.rules }

// Match reports whether a new flow from src to dst (port on protocols that
// have ports) is allowed, and the index of the rule that decided: the
// first deny rule that matches (then it is refused), else the first accept
// rule that matches, else -1 (refused by default). Mixed address families
// are denied.
func (m *Matcher) Match(src, dst netip.Addr, proto Proto, port uint16) (bool, int) {
	if m == nil {
		return false, -1
	}
	switch {
	case src.Is4() && dst.Is4():
		s, d := src.As4(), dst.As4()
		return match4(&m.v4, binary.BigEndian.Uint32(s[:]), binary.BigEndian.Uint32(d[:]), proto, port)
	case src.Is6() && dst.Is6() && !src.Is4In6() && !dst.Is4In6():
		return match6(&m.v6, to128(src), to128(dst), proto, port)
	}
	return false, -1
}

// match4 and match6 are the per-packet path, written out per family: a
// generic version compares through a function value (or a dictionary),
// an indirect call at every step of the search.

func match4(f *family[uint32], src, dst uint32, proto Proto, port uint16) (bool, int) {
	// Find the last interval whose start is <= src.
	lo, hi := 0, len(f.starts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if src < f.starts[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 {
		return false, -1
	}
	gs := f.grants[lo-1]
	for i := range gs {
		g := &gs[i]
		if g.dlo <= dst && dst <= g.dhi && g.protos.has(proto) && g.port(proto, port) {
			return !g.deny, int(g.rule)
		}
	}
	return false, -1
}

func match6(f *family[u128], src, dst u128, proto Proto, port uint16) (bool, int) {
	lo, hi := 0, len(f.starts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if src.less(f.starts[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 {
		return false, -1
	}
	gs := f.grants[lo-1]
	for i := range gs {
		g := &gs[i]
		if !dst.less(g.dlo) && !g.dhi.less(dst) && g.protos.has(proto) && g.port(proto, port) {
			return !g.deny, int(g.rule)
		}
	}
	return false, -1
}

// MatchPrefix is Match for a whole destination prefix: it reports whether
// every address of dst is allowed from src, and the deciding rule: the
// first deny rule that refuses some address of dst, else the first accept
// rule of those that cover it, else -1. The policy checker uses it for
// tests whose destination is a CIDR. It allocates; it is not for packets.
func (m *Matcher) MatchPrefix(src netip.Addr, dst netip.Prefix, proto Proto, port uint16) (bool, int) {
	if m == nil || !dst.IsValid() {
		return false, -1
	}
	if dst.IsSingleIP() {
		return m.Match(src, dst.Addr(), proto, port)
	}
	switch {
	case src.Is4() && dst.Addr().Is4():
		s := src.As4()
		lo, hi := rangeOf4(dst)
		return covers(&m.v4, binary.BigEndian.Uint32(s[:]), lo, hi, proto, port, lessU32, nextU32)
	case src.Is6() && dst.Addr().Is6() && !src.Is4In6() && !dst.Addr().Is4In6(): // as Match
		lo, hi := rangeOf6(dst)
		return covers(&m.v6, to128(src), lo, hi, proto, port, u128.less, u128.next)
	}
	return false, -1
}

func covers[K key](f *family[K], src, lo, hi K, proto Proto, port uint16, less func(a, b K) bool, next func(K) (K, bool)) (bool, int) {
	i, _ := slices.BinarySearchFunc(f.starts, src, func(a, b K) int { return cmpBy(a, b, less) })
	if i == len(f.starts) || f.starts[i] != src {
		i--
	}
	if i < 0 {
		return false, -1
	}
	var gs []grant[K]
	for _, g := range f.grants[i] {
		if g.protos.has(proto) && g.port(proto, port) && !less(g.dhi, lo) && !less(hi, g.dlo) {
			if g.deny {
				return false, int(g.rule) // denies come first
			}
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b grant[K]) int { return cmpBy(a.dlo, b.dlo, less) })
	cur, rule := lo, -1
	for _, g := range gs {
		if less(cur, g.dlo) {
			return false, -1
		}
		if rule < 0 {
			rule = int(g.rule)
		}
		if !less(g.dhi, hi) {
			return true, rule
		}
		if !less(g.dhi, cur) {
			n, ok := next(g.dhi)
			if !ok {
				return true, rule
			}
			cur = n
		}
	}
	return false, -1
}

func cmpBy[K key](a, b K, less func(a, b K) bool) int {
	switch {
	case less(a, b):
		return -1
	case less(b, a):
		return 1
	}
	return 0
}

func lessU32(a, b uint32) bool { return a < b }

func nextU32(a uint32) (uint32, bool) { return a + 1, a != ^uint32(0) }

func to128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func rangeOf4(p netip.Prefix) (uint32, uint32) {
	p = p.Masked()
	a := p.Addr().As4()
	lo := binary.BigEndian.Uint32(a[:])
	bits := p.Bits()
	if bits <= 0 {
		return 0, ^uint32(0)
	}
	return lo, lo | (^uint32(0) >> bits)
}

func rangeOf6(p netip.Prefix) (u128, u128) {
	p = p.Masked()
	lo := to128(p.Addr())
	bits := p.Bits()
	hi := lo
	switch {
	case bits <= 0:
		return u128{}, u128{^uint64(0), ^uint64(0)}
	case bits < 64:
		hi.hi |= ^uint64(0) >> bits
		hi.lo = ^uint64(0)
	case bits < 128:
		hi.lo |= ^uint64(0) >> (bits - 64)
	}
	return lo, hi
}

// builder accumulates one family's source intervals and grants.
type builder[K key] struct {
	events []event[K]
	grants map[int][]grant[K] // rule index -> its grants in this family
}

type event[K key] struct {
	at    K
	rule  int
	delta int
	// open is false for the "past the end of the address space" sentinel.
	open bool
}

func (b *builder[K]) addSrc(rule int, lo, hi K) {
	b.events = append(b.events, event[K]{at: lo, rule: rule, delta: +1, open: true})
	b.events = append(b.events, event[K]{at: hi, rule: rule, delta: -1})
}

func (b *builder[K]) addGrant(rule int, g grant[K]) {
	if b.grants == nil {
		b.grants = make(map[int][]grant[K])
	}
	b.grants[rule] = append(b.grants[rule], g)
}

// build sweeps the interval boundaries. Each source prefix [lo, hi] opens
// at lo and closes after hi; the grants of every rule open at a point form
// that interval's grant list. Identical lists are shared.
func (b *builder[K]) build(less func(a, b K) bool, next func(K) (K, bool)) family[K] {
	var f family[K]
	type point struct {
		at   K
		rule int
		d    int
	}
	pts := make([]point, 0, len(b.events))
	for _, e := range b.events {
		if e.open {
			pts = append(pts, point{e.at, e.rule, e.delta})
			continue
		}
		if n, ok := next(e.at); ok {
			pts = append(pts, point{n, e.rule, e.delta})
		}
	}
	slices.SortFunc(pts, func(x, y point) int { return cmpBy(x.at, y.at, less) })
	active := map[int]int{}
	cache := map[string][]grant[K]{}
	var lastKey string
	for i := 0; i < len(pts); {
		at := pts[i].at
		for ; i < len(pts) && pts[i].at == at; i++ {
			active[pts[i].rule] += pts[i].d
			if active[pts[i].rule] == 0 {
				delete(active, pts[i].rule)
			}
		}
		k := activeKey(active)
		if len(f.starts) > 0 && k == lastKey {
			continue
		}
		gs, ok := cache[k]
		if !ok {
			gs = b.grantsFor(active)
			cache[k] = gs
		}
		f.starts = append(f.starts, at)
		f.grants = append(f.grants, gs)
		lastKey = k
	}
	return f
}

func (b *builder[K]) grantsFor(active map[int]int) []grant[K] {
	rules := make([]int, 0, len(active))
	for r := range active {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	var gs []grant[K]
	for _, r := range rules {
		gs = append(gs, b.grants[r]...)
	}
	// Denies first, each kind in rule order: the first grant that matches
	// a packet decides.
	slices.SortStableFunc(gs, func(x, y grant[K]) int {
		return cmp.Or(-cmp.Compare(b2i(x.deny), b2i(y.deny)), cmp.Compare(x.rule, y.rule))
	})
	return gs
}

func activeKey(active map[int]int) string {
	rules := make([]int, 0, len(active))
	for r := range active {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	var sb strings.Builder
	for _, r := range rules {
		sb.WriteString(strconv.Itoa(r))
		sb.WriteByte(',')
	}
	return sb.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
