package filter_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
)

// FuzzReachRules checks ReachRules against the compiled Matcher's Reach
// over random valid rules and address pairs (invalid rules, which
// Compile skips, are dropped first: ReachRules takes the compiler's).
func FuzzReachRules(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("rules and packets: 10.0.0.0/24 -> 10.0.1.7:22"))
	f.Add([]byte{7, 3, 1, 200, 3, 1, 3, 0, 1, 200, 9, 3, 3, 4, 5, 6, 7, 2, 1, 1, 0, 0, 1, 2, 3, 1, 200, 3, 200, 1, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &input{b: data}
		rules := slices.DeleteFunc(in.rules(), func(r filter.Rule) bool { return r.Validate() != nil })
		m := filter.Compile(rules)
		inSrc := func(i int, a netip.Addr) bool {
			return slices.ContainsFunc(rules[i].Src, func(p netip.Prefix) bool { return p.Contains(a) })
		}
		for range 32 {
			var srcs, dsts []netip.Addr
			for range 1 + in.n(2) {
				srcs = append(srcs, in.addr(in.next()&1 == 1))
				dsts = append(dsts, in.addr(in.next()&1 == 1))
			}
			if in.n(16) == 0 {
				srcs[0] = netip.AddrFrom16(srcs[0].As16()) // IPv4-mapped
			}
			got, want := filter.ReachRules(rules, srcs, dsts, inSrc), m.Reach(srcs, dsts)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("ReachRules(%v -> %v) differs from Reach (-Reach +ReachRules):\n%s\nrules: %+v", srcs, dsts, diff, rules)
			}
		}
	})
}
