package coordinator

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestViewSig checks the key of a viewer's view class: viewers in the
// same source lists with addresses of the same families share it, and a
// difference in any list, for any address, in the families or in the
// number of addresses splits them (their grants or routes may differ).
func TestViewSig(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	sensors := []netip.Prefix{p("100.64.0.1/32"), p("100.64.0.2/32"), p("fd7a::1/128")}
	wide := []netip.Prefix{p("100.64.0.0/24")}
	cams := []netip.Prefix{p("100.64.1.1/32")}
	// nine lists: the ninth's bit goes in a second byte.
	var nine [][]netip.Prefix
	for i := range 9 {
		nine = append(nine, []netip.Prefix{p(fmt.Sprintf("100.64.2.%d/32", i+1))})
	}
	lists := [][]netip.Prefix{sensors, wide, cams}
	tests := []struct {
		name  string
		lists [][]netip.Prefix
		x, y  []netip.Addr
		same  bool
	}{
		{"same lists, both families", lists, []netip.Addr{a("100.64.0.1"), a("fd7a::1")}, []netip.Addr{a("100.64.0.2"), a("fd7a::1")}, true},
		{"one v4 in sensors, the other not", lists, []netip.Addr{a("100.64.0.1")}, []netip.Addr{a("100.64.0.3")}, false},
		{"in the wide list alone vs in none", lists, []netip.Addr{a("100.64.0.9")}, []netip.Addr{a("100.64.9.9")}, false},
		{"v6 in a list vs not", lists, []netip.Addr{a("100.64.0.1"), a("fd7a::1")}, []netip.Addr{a("100.64.0.1"), a("fd7a::2")}, false},
		{"families differ", lists, []netip.Addr{a("100.64.9.9")}, []netip.Addr{a("fd7a::9")}, false},
		{"v4-mapped v6 is not v6", lists, []netip.Addr{a("fd7a::9")}, []netip.Addr{a("::ffff:100.64.9.9")}, false},
		{"one address vs two", lists, []netip.Addr{a("100.64.9.9")}, []netip.Addr{a("100.64.9.9"), a("fd7a::9")}, false},
		{"no lists: families alone", nil, []netip.Addr{a("100.64.0.1")}, []netip.Addr{a("100.64.9.9")}, true},
		{"ninth list", nine, []netip.Addr{a("100.64.2.9")}, []netip.Addr{a("100.64.2.10")}, false},
		{"ninth list, both out", nine, []netip.Addr{a("100.64.3.1")}, []netip.Addr{a("100.64.2.10")}, true},
		{"eighth list vs ninth", nine, []netip.Addr{a("100.64.2.8")}, []netip.Addr{a("100.64.2.9")}, false},
	}
	src := newSrcCache()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, y := viewSig(src, tc.lists, tc.x), viewSig(src, tc.lists, tc.y)
			if (x == y) != tc.same {
				t.Errorf("viewSig(%v) = %x, viewSig(%v) = %x; want equal: %v", tc.x, x, tc.y, y, tc.same)
			}
		})
	}
}
