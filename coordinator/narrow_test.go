package coordinator

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
)

// TestNarrows: what takes access away counts as narrowing, what only
// adds does not.
func TestNarrows(t *testing.T) {
	a, b := netip.MustParsePrefix("100.64.0.1/32"), netip.MustParsePrefix("100.64.0.2/32")
	dst := func(port uint16) []filter.DstNet {
		return []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.9/32"), Ports: []filter.PortRange{{First: port, Last: port}}}}
	}
	t0 := time.Unix(1_700_000_000, 0)
	accept := filter.Rule{Src: []netip.Prefix{a}, Dst: dst(22)}
	wider := filter.Rule{Src: []netip.Prefix{a, b}, Dst: dst(22)}
	timed := filter.Rule{Src: []netip.Prefix{a}, Dst: dst(22), Expires: t0}
	later := filter.Rule{Src: []netip.Prefix{a}, Dst: dst(22), Expires: t0.Add(time.Hour)}
	deny := filter.Rule{Src: []netip.Prefix{b}, Dst: dst(23), Deny: true}
	for _, tc := range []struct {
		name        string
		held, rules []filter.Rule
		want        bool
	}{
		{"same", []filter.Rule{accept}, []filter.Rule{accept}, false},
		{"source added", []filter.Rule{accept}, []filter.Rule{wider}, false},
		{"source removed", []filter.Rule{wider}, []filter.Rule{accept}, true},
		{"rule added", []filter.Rule{accept}, []filter.Rule{accept, {Src: []netip.Prefix{a}, Dst: dst(80)}}, false},
		{"rule removed", []filter.Rule{accept, deny}, []filter.Rule{deny}, true},
		{"port changed", []filter.Rule{accept}, []filter.Rule{{Src: []netip.Prefix{a}, Dst: dst(80)}}, true},
		{"deny added", []filter.Rule{accept}, []filter.Rule{accept, deny}, true},
		{"deny removed", []filter.Rule{accept, deny}, []filter.Rule{accept}, false},
		{"deny widened", []filter.Rule{deny}, []filter.Rule{{Src: []netip.Prefix{a, b}, Dst: dst(23), Deny: true}}, true},
		{"end added", []filter.Rule{accept}, []filter.Rule{timed}, true},
		{"end sooner", []filter.Rule{later}, []filter.Rule{timed}, true},
		{"end later", []filter.Rule{timed}, []filter.Rule{later}, false},
		{"end removed", []filter.Rule{timed}, []filter.Rule{accept}, false},
		{"all removed", []filter.Rule{accept}, []filter.Rule{}, true},
	} {
		if got := narrows(tc.held, tc.rules); got != tc.want {
			t.Errorf("%s: narrows = %v, want %v", tc.name, got, tc.want)
		}
	}
}
