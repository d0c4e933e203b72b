package sim

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
)

// TestSameRules: filters are the same only when every field of every rule
// is.
func TestSameRules(t *testing.T) {
	base := func() []filter.Rule {
		return []filter.Rule{{Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32")},
			Dst:    []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.2/32"), Ports: []filter.PortRange{{First: 8883, Last: 8883}}}},
			Protos: []filter.Proto{filter.ProtoTCP}}}
	}
	for _, tc := range []struct {
		name   string
		change func(r []filter.Rule) []filter.Rule
		same   bool
	}{
		{name: "equal", change: func(r []filter.Rule) []filter.Rule { return r }, same: true},
		{name: "a source more", change: func(r []filter.Rule) []filter.Rule {
			r[0].Src = append(r[0].Src, netip.MustParsePrefix("100.64.0.3/32"))
			return r
		}},
		{name: "a port", change: func(r []filter.Rule) []filter.Rule { r[0].Dst[0].Ports[0].Last = 8884; return r }},
		{name: "a destination", change: func(r []filter.Rule) []filter.Rule {
			r[0].Dst[0].Net = netip.MustParsePrefix("100.64.0.9/32")
			return r
		}},
		{name: "a protocol", change: func(r []filter.Rule) []filter.Rule { r[0].Protos = []filter.Proto{filter.ProtoUDP}; return r }},
		{name: "deny", change: func(r []filter.Rule) []filter.Rule { r[0].Deny = true; return r }},
		{name: "expiry", change: func(r []filter.Rule) []filter.Rule { r[0].Expires = time.Unix(1e9, 0); return r }},
		{name: "a rule more", change: func(r []filter.Rule) []filter.Rule { return append(r, r[0]) }},
	} {
		if got := sameRules(base(), tc.change(base())); got != tc.same {
			t.Errorf("%s: sameRules %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestCounterIn reads a counter from a Prometheus text exposition, and
// only the metric of that exact name.
func TestCounterIn(t *testing.T) {
	text := "# HELP ward_memory_give_backs_total x\n# TYPE ward_memory_give_backs_total counter\n" +
		"ward_memory_give_backs_total_other 9\nward_memory_give_backs_total 3\nward_map_sends_total 1e+06\n"
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{
		{"ward_memory_give_backs_total", 3, true},
		{"ward_map_sends_total", 1e6, true},
		{"ward_missing_total", 0, false},
	} {
		if got, ok := counterIn(text, tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("counterIn(%s) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
