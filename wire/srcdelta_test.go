package wire

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wardnet/ward/filter"
)

func hostsOf(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		out = append(out, netip.PrefixFrom(netip.MustParseAddr(f), 32))
	}
	return out
}

func ruleOf(src string, port uint16) filter.Rule {
	return filter.Rule{Src: hostsOf(src), Dst: []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.1/32"),
		Ports: []filter.PortRange{{First: port, Last: port}}}}}
}

func sumOf(src string) string { return FormatSrcSum(filter.SrcSum(hostsOf(src))) }

// TestRulesFrom applies filters by reference and by delta against the
// filter a node holds, and refuses, as a node must, every message that
// does not fit it: a reference or a delta to a rule it does not hold, a
// delta made against another list (a forged or out-of-step message that
// would widen what the node accepts), a malformed one.
func TestRulesFrom(t *testing.T) {
	held := []filter.Rule{ruleOf("100.64.0.2 100.64.0.3", 8883), ruleOf("100.64.0.7", 22)}
	null := func(port uint16) filter.Rule { r := ruleOf("", port); r.Src = nil; return r }
	for _, tc := range []struct {
		name string
		m    MapResponse
		want []filter.Rule // nil: refused
	}{
		{name: "whole lists", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{ruleOf("100.64.0.9", 80)}},
			want: []filter.Rule{ruleOf("100.64.0.9", 80)}},
		{name: "by reference", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8884)}, FilterSrcFrom: []int{0}},
			want: []filter.Rule{ruleOf("100.64.0.2 100.64.0.3", 8884)}},
		{name: "a sensor joins", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883), null(22)}, FilterSrcFrom: []int{0, 1},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.2 100.64.0.3 100.64.0.4")}}},
			want: []filter.Rule{ruleOf("100.64.0.2 100.64.0.3 100.64.0.4", 8883), ruleOf("100.64.0.7", 22)}},
		{name: "delta against another rule", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(22)}, FilterSrcFrom: []int{1},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.8"), Del: hostsOf("100.64.0.7"), Sum: sumOf("100.64.0.8")}}},
			want: []filter.Rule{ruleOf("100.64.0.8", 22)}},
		{name: "base the node does not hold", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{2},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.4")}}}},
		{name: "delta made against another list", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{1},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.2 100.64.0.3 100.64.0.4")}}}},
		{name: "sum of a wider list", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.2 100.64.0.3 100.64.0.4 100.64.0.5")}}}},
		{name: "removes what is not held", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Del: hostsOf("100.64.0.9"), Sum: sumOf("100.64.0.2 100.64.0.3")}}}},
		{name: "delta without reference", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{ruleOf("100.64.0.9", 80)}, FilterSrcFrom: []int{-1},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.4 100.64.0.9")}}}},
		{name: "delta without any references", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{ruleOf("100.64.0.9", 80)},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Sum: sumOf("100.64.0.9")}}}},
		{name: "delta of a rule out of range", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0},
			FilterSrcDelta: []SrcDelta{{Rule: 1, Sum: sumOf("")}}}},
		{name: "two deltas of one rule", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Add: hostsOf("100.64.0.4"), Sum: sumOf("100.64.0.2 100.64.0.3 100.64.0.4")}, {Rule: 0, Add: hostsOf("100.64.0.5"), Sum: sumOf("100.64.0.2 100.64.0.3 100.64.0.4 100.64.0.5")}}}},
		{name: "malformed sum", m: MapResponse{FilterChanged: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0},
			FilterSrcDelta: []SrcDelta{{Rule: 0, Sum: "12"}}}},
		{name: "in a full map", m: MapResponse{Full: true, Filter: []filter.Rule{null(8883)}, FilterSrcFrom: []int{0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(held[0].Src)
			got, err := RulesFrom(tc.m, held)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("RulesFrom = %v; want refused", got)
				}
			} else if err != nil || !rulesEqual(got, tc.want) {
				t.Fatalf("RulesFrom = %v, %v; want %v", got, err, tc.want)
			}
			if !slices.Equal(held[0].Src, before) {
				t.Fatalf("the held filter changed: %v", held[0].Src)
			}
		})
	}
}

func rulesEqual(a, b []filter.Rule) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// FuzzRulesFrom decodes map messages as a node does and applies their
// filter to a held one: nothing panics, the held filter never changes,
// and a filter accepted from a delta lists no source beyond the held
// list and the delta's additions.
func FuzzRulesFrom(f *testing.F) {
	f.Add([]byte(`{"version":2,"filter_changed":true,"filter":[{"src":null,"dst":[]}],"filter_src_from":[0],"filter_src_delta":[{"rule":0,"add":["100.64.0.4/32"],"sum":"` + sumOf("100.64.0.2 100.64.0.3 100.64.0.4") + `"}]}`))
	f.Add([]byte(`{"version":2,"filter_changed":true,"filter":[{"src":null,"dst":[]}],"filter_src_from":[1],"filter_src_delta":[{"rule":0,"del":["100.64.0.7/32"],"sum":"` + sumOf("") + `"}]}`))
	f.Add([]byte(`{"filter_src_from":[5],"filter_src_delta":[{"rule":-1,"sum":"zz"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		held := []filter.Rule{ruleOf("100.64.0.2 100.64.0.3", 8883), ruleOf("100.64.0.7", 22)}
		var m MapResponse
		if json.Unmarshal(in, &m) != nil {
			return
		}
		rules, err := RulesFrom(m, held)
		if !slices.Equal(held[0].Src, hostsOf("100.64.0.2 100.64.0.3")) || !slices.Equal(held[1].Src, hostsOf("100.64.0.7")) {
			t.Fatalf("the held filter changed: %v", held)
		}
		if err != nil {
			return
		}
		for _, d := range m.FilterSrcDelta {
			allowed := map[netip.Prefix]bool{}
			for _, p := range held[m.FilterSrcFrom[d.Rule]].Src {
				allowed[p] = true
			}
			for _, p := range d.Add {
				allowed[p] = true
			}
			for _, p := range rules[d.Rule].Src {
				if !allowed[p] {
					t.Fatalf("rule %d accepts %v, neither held nor added", d.Rule, p)
				}
			}
			if !filter.IsCanonicalSrc(rules[d.Rule].Src) {
				t.Fatalf("rule %d: a list out of order: %v", d.Rule, rules[d.Rule].Src)
			}
		}
	})
}
