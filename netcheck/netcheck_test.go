package netcheck_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/wardnet/ward/netcheck"
)

func TestClassify(t *testing.T) {
	a := netip.MustParseAddrPort("172.16.0.1:3478")
	b := netip.MustParseAddrPort("172.16.0.2:3478")
	m1 := netip.MustParseAddrPort("10.1.0.2:40000")
	m2 := netip.MustParseAddrPort("10.1.0.2:40001")
	m3 := netip.MustParseAddrPort("10.9.0.2:40000")
	ok := func(s, m netip.AddrPort) netcheck.Observation { return netcheck.Observation{Server: s, Mapped: m} }
	lost := func(s netip.AddrPort) netcheck.Observation {
		return netcheck.Observation{Server: s, Err: netcheck.ErrNoAnswer}
	}
	for _, tc := range []struct {
		name string
		obs  []netcheck.Observation
		nat  netcheck.NATType
		udp  bool
		refl []netip.AddrPort
	}{
		{"no servers", nil, netcheck.Unknown, false, nil},
		{"all lost", []netcheck.Observation{lost(a), lost(b)}, netcheck.UDPBlocked, false, nil},
		{"one answer", []netcheck.Observation{ok(a, m1), lost(b)}, netcheck.Unknown, true, []netip.AddrPort{m1}},
		{"same mapping", []netcheck.Observation{ok(a, m1), ok(b, m1)}, netcheck.EndpointIndependent, true, []netip.AddrPort{m1}},
		{"port differs", []netcheck.Observation{ok(a, m1), ok(b, m2)}, netcheck.Symmetric, true, []netip.AddrPort{m1, m2}},
		{"address differs", []netcheck.Observation{ok(a, m1), ok(b, m3)}, netcheck.Symmetric, true, []netip.AddrPort{m1, m3}},
		{"differing answers outweigh a loss", []netcheck.Observation{ok(a, m1), lost(b), ok(b, m2)}, netcheck.Symmetric, true, []netip.AddrPort{m1, m2}},
		{"an error without mapping", []netcheck.Observation{{Server: a, Err: errors.New("bad reply")}}, netcheck.UDPBlocked, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := netcheck.Classify(tc.obs)
			if r.NAT != tc.nat || r.UDP != tc.udp || !slices.Equal(r.Reflexive, tc.refl) {
				t.Fatalf("got %s udp=%v %v, want %s udp=%v %v", r.NAT, r.UDP, r.Reflexive, tc.nat, tc.udp, tc.refl)
			}
		})
	}
}
