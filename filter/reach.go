package filter

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortGrant is what a source may start toward a destination over one
// protocol. Its JSON is part of Ward's control protocol (a peer's grants
// in the map, see wire.Node.Grants).
type PortGrant struct {
	Proto Proto `json:"proto"`
	// Ports are the allowed destination ports, sorted, merged and never
	// empty for a protocol with ports (Proto.HasPorts); nil for one
	// without (ICMP: allowed whatever the port).
	Ports []PortRange `json:"ports,omitempty"`
}

// Reach lists what new flows the Matcher allows from any of srcs to any of
// dsts: per protocol, the destination ports, sorted by protocol. Only
// addresses of the same family are paired; invalid addresses are skipped.
// It answers "where may this peer go on that one" for the control plane;
// it allocates and is not for packets. A flow it lists is one Match
// allows, and only those (the same intervals and grants answer both).
func (m *Matcher) Reach(srcs, dsts []netip.Addr) []PortGrant {
	if m == nil {
		return nil
	}
	acc := map[Proto][]PortRange{}
	for _, s := range srcs {
		for _, d := range dsts {
			var pair reachPair
			switch {
			case s.Is4() && d.Is4():
				sa, da := s.As4(), d.As4()
				reachIn(&pair, &m.v4, binary.BigEndian.Uint32(sa[:]), binary.BigEndian.Uint32(da[:]), lessU32)
			case s.Is6() && d.Is6() && !s.Is4In6() && !d.Is4In6(): // as Match
				reachIn(&pair, &m.v6, to128(s), to128(d), u128.less)
			}
			pair.into(acc)
		}
	}
	return grantsOf(acc)
}

// reachPair is what the rules say about flows from one source to one
// destination: the ports accept rules open and those deny rules close,
// per protocol.
type reachPair struct{ accept, deny map[Proto][]PortRange }

func (r *reachPair) add(deny bool, p Proto, pr PortRange) {
	m := &r.accept
	if deny {
		m = &r.deny
	}
	if *m == nil {
		*m = map[Proto][]PortRange{}
	}
	(*m)[p] = append((*m)[p], pr)
}

// into adds to acc what the pair allows: accepted ports no deny closes. A
// deny of any port closes a protocol without ports (as Match).
func (r *reachPair) into(acc map[Proto][]PortRange) {
	for p, rs := range r.accept {
		d, denied := r.deny[p]
		switch {
		case !denied:
			acc[p] = append(acc[p], rs...)
		case p.HasPorts():
			if left := SubtractPorts(rs, d); len(left) > 0 {
				acc[p] = append(acc[p], left...)
			}
		}
	}
}

// SubtractPorts returns the ports of a that lie in none of d, as sorted,
// merged ranges. It sorts a and d in place.
func SubtractPorts(a, d []PortRange) []PortRange {
	a, d = mergeRanges(a), mergeRanges(d)
	var out []PortRange
	for _, r := range a {
		lo := uint32(r.First)
		for _, x := range d {
			if uint32(x.Last) < lo || x.First > r.Last {
				continue
			}
			if uint32(x.First) > lo {
				out = append(out, PortRange{First: uint16(lo), Last: x.First - 1})
			}
			lo = uint32(x.Last) + 1
		}
		if lo <= uint32(r.Last) {
			out = append(out, PortRange{First: uint16(lo), Last: r.Last})
		}
	}
	return out
}

// grantsOf turns what reachIn or ReachRules accumulated into grants.
func grantsOf(acc map[Proto][]PortRange) []PortGrant {
	out := make([]PortGrant, 0, len(acc))
	for p, ranges := range acc {
		g := PortGrant{Proto: p}
		if p.HasPorts() {
			g.Ports = mergeRanges(ranges)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b PortGrant) int { return cmp.Compare(a.Proto, b.Proto) })
	return out
}

// ReachRules answers what Compile(rules).Reach(srcs, dsts) answers, for
// valid rules, without compiling them: for the control plane, whose
// rules change with the fleet (a gateway's filter lists every sensor).
// inSrc(i, a) reports whether a lies in one of rules[i].Src; the caller
// may answer it from an index of a long list.
func ReachRules(rules []Rule, srcs, dsts []netip.Addr, inSrc func(i int, a netip.Addr) bool) []PortGrant {
	acc := map[Proto][]PortRange{}
	for _, s := range srcs {
		for _, d := range dsts {
			if !pairs(s, d) {
				continue
			}
			var pair reachPair
			for i, r := range rules {
				if inSrc(i, s) {
					addDstPorts(&pair, r, d)
				}
			}
			pair.into(acc)
		}
	}
	return grantsOf(acc)
}

// pairs reports whether the matcher pairs a flow from s to d: both IPv4,
// or both IPv6 and neither an IPv4-mapped address (as Match).
func pairs(s, d netip.Addr) bool {
	return s.Is4() && d.Is4() || s.Is6() && d.Is6() && !s.Is4In6() && !d.Is4In6()
}

// addDstPorts adds rule r's ports toward d to pair.
func addDstPorts(pair *reachPair, r Rule, d netip.Addr) {
	for _, dn := range r.Dst {
		if !dn.Net.Contains(d) {
			continue
		}
		for _, pr := range dn.Ports {
			for _, p := range r.EffectiveProtos() {
				pair.add(r.Deny, p, pr)
			}
		}
	}
}

// reachIn adds to pair every grant of f that applies to flows from src to
// dst.
func reachIn[K key](pair *reachPair, f *family[K], src, dst K, less func(a, b K) bool) {
	i, found := slices.BinarySearchFunc(f.starts, src, func(a, b K) int { return cmpBy(a, b, less) })
	if !found {
		i-- // the last interval starting before src
	}
	if i < 0 {
		return
	}
	for _, g := range f.grants[i] {
		if less(dst, g.dlo) || less(g.dhi, dst) {
			continue
		}
		for w, bits := range g.protos {
			for b := range 64 {
				if bits&(1<<b) != 0 {
					pair.add(g.deny, Proto(w*64+b), PortRange{First: g.plo, Last: g.phi})
				}
			}
		}
	}
}

// mergeRanges sorts rs and joins ranges that overlap or touch.
func mergeRanges(rs []PortRange) []PortRange {
	slices.SortFunc(rs, func(a, b PortRange) int { return cmp.Compare(a.First, b.First) })
	out := rs[:0:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.First) <= uint32(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Allows reports whether the grants gs (as Reach returns them) allow a new
// flow over proto to port.
func Allows(gs []PortGrant, proto Proto, port uint16) bool {
	for _, g := range gs {
		if g.Proto != proto {
			continue
		}
		if !proto.HasPorts() {
			return true
		}
		for _, r := range g.Ports {
			if r.Contains(port) {
				return true
			}
		}
	}
	return false
}

// Name names p as a policy does: "tcp", "udp", "icmp" (ICMP and ICMPv6
// alike), "sctp", or its number.
func (p Proto) Name() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP, ProtoICMPv6:
		return "icmp"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// String formats g for people: "tcp 80, 443, 8000-8099", "tcp every
// port", "icmp".
func (g PortGrant) String() string {
	if !g.Proto.HasPorts() {
		return g.Proto.Name()
	}
	return g.Proto.Name() + " " + formatPorts(g.Ports)
}

// formatPorts formats port ranges: "80, 443, 8000-8099", "every port".
func formatPorts(rs []PortRange) string {
	if len(rs) == 1 && rs[0] == AllPorts() {
		return "every port"
	}
	ps := make([]string, len(rs))
	for i, r := range rs {
		ps[i] = r.String()
	}
	return strings.Join(ps, ", ")
}

// FormatGrants formats gs for people, protocols with ports first and
// those with the same ports together ("tcp/udp 22, 80; sctp 9; icmp"), or
// "nothing".
func FormatGrants(gs []PortGrant) string {
	type group struct {
		names []string
		ports []PortRange
	}
	var groups []group
	for _, g := range gs {
		if !g.Proto.HasPorts() {
			continue
		}
		i := slices.IndexFunc(groups, func(x group) bool { return slices.Equal(x.ports, g.Ports) })
		if i < 0 {
			groups = append(groups, group{ports: g.Ports})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, g.Proto.Name())
	}
	var out []string
	for _, g := range groups {
		out = append(out, strings.Join(g.names, "/")+" "+formatPorts(g.ports))
	}
	for _, g := range gs {
		if n := g.Proto.Name(); !g.Proto.HasPorts() && !slices.Contains(out, n) { // ICMP and ICMPv6 read alike
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, "; ")
}
