package coordinator

import (
	"net/netip"
	"slices"
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
	// ports makes a destination with the ranges given (first, last pairs).
	ports := func(net string, fl ...uint16) filter.DstNet {
		d := filter.DstNet{Net: netip.MustParsePrefix(net)}
		for i := 0; i+1 < len(fl); i += 2 {
			d.Ports = append(d.Ports, filter.PortRange{First: fl[i], Last: fl[i+1]})
		}
		return d
	}
	rule := func(d ...filter.DstNet) filter.Rule { return filter.Rule{Src: []netip.Prefix{a}, Dst: d} }
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
		// The default policy change of ward sim: 8883 becomes 8883-8884.
		{"port added to the range", []filter.Rule{accept}, []filter.Rule{rule(ports("100.64.0.9/32", 22, 23))}, false},
		{"port added as a range", []filter.Rule{accept}, []filter.Rule{rule(ports("100.64.0.9/32", 80, 80, 22, 22))}, false},
		{"range shrunk", []filter.Rule{rule(ports("100.64.0.9/32", 22, 23))}, []filter.Rule{accept}, true},
		{"range split", []filter.Rule{rule(ports("100.64.0.9/32", 22, 24))}, []filter.Rule{rule(ports("100.64.0.9/32", 22, 22, 24, 24))}, true},
		{"range over two", []filter.Rule{rule(ports("100.64.0.9/32", 22, 23))}, []filter.Rule{rule(ports("100.64.0.9/32", 22, 22, 23, 23))}, true},
		{"destination added", []filter.Rule{accept}, []filter.Rule{rule(ports("100.64.0.8/32", 22, 22), ports("100.64.0.9/32", 22, 22))}, false},
		{"destination removed", []filter.Rule{rule(ports("100.64.0.8/32", 22, 22), ports("100.64.0.9/32", 22, 22))}, []filter.Rule{accept}, true},
		{"destination moved", []filter.Rule{accept}, []filter.Rule{rule(ports("100.64.0.8/32", 22, 22))}, true},
		{"deny's port added", []filter.Rule{deny}, []filter.Rule{{Src: []netip.Prefix{b}, Dst: []filter.DstNet{ports("100.64.0.9/32", 23, 24)}, Deny: true}}, true},
		{"protocol changed", []filter.Rule{accept}, []filter.Rule{{Src: []netip.Prefix{a}, Dst: dst(22), Protos: []filter.Proto{17}}}, true},
	} {
		if got := narrows(tc.held, tc.rules, nil); got != tc.want {
			t.Errorf("%s: narrows = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSrcWithin: the merge of canonical lists and the set of others give
// the same answers.
func TestSrcWithin(t *testing.T) {
	p := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		in, of []netip.Prefix
		want   bool
	}{
		{"none", nil, p("10.0.0.1/32"), true},
		{"equal", p("10.0.0.1/32", "10.0.0.2/32"), p("10.0.0.1/32", "10.0.0.2/32"), true},
		{"subset", p("10.0.0.2/32", "10.0.0.9/32"), p("10.0.0.1/32", "10.0.0.2/32", "10.0.0.5/32", "10.0.0.9/32"), true},
		{"one missing", p("10.0.0.2/32", "10.0.0.3/32"), p("10.0.0.1/32", "10.0.0.2/32", "10.0.0.9/32"), false},
		{"past the end", p("10.0.0.2/32", "10.0.0.10/32"), p("10.0.0.1/32", "10.0.0.2/32", "10.0.0.9/32"), false},
		{"other bits", p("10.0.0.0/24"), p("10.0.0.0/32", "10.0.0.0/16"), false},
		{"families", p("10.0.0.1/32", "fd7a::1/128"), p("10.0.0.1/32", "fd7a::1/128"), true},
		{"unsorted, within", p("10.0.0.9/32", "10.0.0.2/32"), p("10.0.0.2/32", "10.0.0.1/32", "10.0.0.9/32"), true},
		{"unsorted, missing", p("10.0.0.9/32", "10.0.0.3/32"), p("10.0.0.2/32", "10.0.0.1/32", "10.0.0.9/32"), false},
		{"repeats", p("10.0.0.2/32", "10.0.0.2/32"), p("10.0.0.2/32"), true},
	} {
		if got := srcWithin(tc.in, tc.of, nil); got != tc.want {
			t.Errorf("%s: srcWithin = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSrcWithinLongLists: lists long enough for the source cache's facts
// (srcFactsMin) give the answers a merge gives.
func TestSrcWithinLongLists(t *testing.T) {
	list := func(n, skip int) []netip.Prefix {
		var out []netip.Prefix
		for i := range n {
			if i != skip {
				out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), 32))
			}
		}
		return out
	}
	full := list(300, -1)
	reversed := slices.Clone(full)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name   string
		in, of []netip.Prefix
		want   bool
	}{
		{"the same list, another array", list(300, -1), full, true},
		{"one fewer", list(300, 7), full, true},
		{"one more", full, list(300, 7), false},
		{"same length, one other", list(301, 7)[:299], list(300, 8)[:299], false},
		{"not sorted, within", reversed, full, true},
		{"not sorted, one more", reversed, list(300, 7), false},
	} {
		src := newSrcCache()
		if got := srcWithin(tc.in, tc.of, src); got != tc.want {
			t.Errorf("%s: srcWithin = %v, want %v", tc.name, got, tc.want)
		}
		if got := srcWithin(tc.in, tc.of, nil); got != tc.want {
			t.Errorf("%s, without the cache: srcWithin = %v, want %v", tc.name, got, tc.want)
		}
	}
}
