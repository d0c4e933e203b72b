package filter

import (
	"net/netip"
	"testing"
)

// Regression tests, each named after the bug it pins.

// TestMatchPrefixDeniesIPv4MappedLikeMatch: MatchPrefix looked an
// IPv4-mapped IPv6 source (or destination) up in the IPv6 table, which
// Match denies outright, so the two disagreed under a ::/0 rule.
func TestMatchPrefixDeniesIPv4MappedLikeMatch(t *testing.T) {
	m := Compile([]Rule{rule("::/0", "::/0:*")})
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	if ok, _ := m.Match(mapped, netip.MustParseAddr("fd00::1"), ProtoTCP, 22); ok {
		t.Error("Match allows an IPv4-mapped source")
	}
	for _, tc := range []struct {
		src netip.Addr
		dst netip.Prefix
	}{
		{mapped, netip.MustParsePrefix("fd00::/120")},
		{netip.MustParseAddr("fd00::1"), netip.MustParsePrefix("::ffff:10.0.0.0/120")},
	} {
		if ok, idx := m.MatchPrefix(tc.src, tc.dst, ProtoTCP, 22); ok || idx != -1 {
			t.Errorf("MatchPrefix(%v -> %v) = %v, %d; want deny like Match", tc.src, tc.dst, ok, idx)
		}
	}
}
