package filter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDenyRulesOverrideAccepts pins issue 17's deny rules in the data
// plane's matcher: a deny rule refuses the flows it matches ahead of every
// accept rule, wherever it sits in the list, and Reach leaves out what it
// refuses.
func TestDenyRulesOverrideAccepts(t *testing.T) {
	accept := rule("10.0.0.0/24", "10.0.1.0/24:*")
	deny := rule("10.0.0.0/24", "10.0.1.7/32:23")
	deny.Deny = true
	src, cam, other := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.1.7"), netip.MustParseAddr("10.0.1.8")
	for _, order := range [][]Rule{{accept, deny}, {deny, accept}} {
		m := Compile(order)
		denyIdx := 0
		if order[1].Deny {
			denyIdx = 1
		}
		for _, tc := range []struct {
			dst     netip.Addr
			port    uint16
			want    bool
			wantIdx int
		}{
			{cam, 23, false, denyIdx},
			{cam, 22, true, 1 - denyIdx},
			{other, 23, true, 1 - denyIdx},
		} {
			ok, idx := m.Match(src, tc.dst, ProtoTCP, tc.port)
			if ok != tc.want || idx != tc.wantIdx {
				t.Errorf("order %v: Match(%v:%d) = %v, %d; want %v, %d", denyIdx, tc.dst, tc.port, ok, idx, tc.want, tc.wantIdx)
			}
		}
		if ok, idx := m.MatchPrefix(src, netip.MustParsePrefix("10.0.1.0/24"), ProtoTCP, 23); ok || idx != denyIdx {
			t.Errorf("MatchPrefix over the denied address = %v, %d; want false, %d", ok, idx, denyIdx)
		}
		// The deny names no protocol, so it covers ICMP (which has no
		// ports) whole.
		want := []PortGrant{
			{Proto: ProtoTCP, Ports: []PortRange{{0, 22}, {24, 65535}}},
			{Proto: ProtoUDP, Ports: []PortRange{{0, 22}, {24, 65535}}},
		}
		if diff := cmp.Diff(want, m.Reach([]netip.Addr{src}, []netip.Addr{cam})); diff != "" {
			t.Errorf("Reach (-want +got):\n%s", diff)
		}
	}
}

// TestLiveAtDropsExpiredRules pins issue 17's time-bound grants in the
// matcher's input: a rule past its Expires is left out, the earliest
// coming expiry is reported, and rules without one come back as they are.
func TestLiveAtDropsExpiredRules(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	plain := rule("10.0.0.0/24", "10.0.1.7/32:22")
	soon, later, gone := plain, plain, plain
	soon.Expires, later.Expires, gone.Expires = t0.Add(time.Minute), t0.Add(time.Hour), t0
	rules := []Rule{plain, later, gone, soon}
	live, next := LiveAt(rules, t0)
	if len(live) != 3 || !live[0].Expires.IsZero() || live[1].Expires != later.Expires || live[2].Expires != soon.Expires || !next.Equal(soon.Expires) {
		t.Errorf("LiveAt = %+v, next %v; want plain, later, soon and next %v", live, next, soon.Expires)
	}
	if live, next := LiveAt(rules, t0.Add(time.Hour)); len(live) != 1 || !next.IsZero() {
		t.Errorf("an hour on: %d rules, next %v; want the plain rule alone", len(live), next)
	}
	m := Compile(mustLive(rules, t0.Add(2*time.Minute)))
	if ok, idx := m.Match(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.1.7"), ProtoTCP, 22); !ok || idx != 0 {
		t.Errorf("the plain rule after the timed ones ended: %v, %d", ok, idx)
	}
}

func mustLive(rules []Rule, now time.Time) []Rule {
	live, _ := LiveAt(rules, now)
	return live
}
