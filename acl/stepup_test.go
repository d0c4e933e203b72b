package acl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
)

const stepUpPolicy = `{
  "groups": {"group:plant": ["pat@example.com", "pam@example.com"]},
  "tagOwners": {"tag:plc": [], "tag:operator": []},
  "riskClasses": [{"name": "critical", "mfaWithin": "15m"}, "standard"],
  "acls": [
    {"action": "accept", "src": ["group:plant", "tag:operator"], "dst": ["risk:critical:22"], "proto": "tcp"},
    {"action": "accept", "src": ["*"], "dst": ["risk:critical:80"], "proto": "tcp"},
    {"action": "accept", "src": ["group:plant"], "dst": ["tag:plc:23"], "proto": "tcp"},
  ],
}`

// TestStepUpMFAGatesPeopleOnTheDevice pins issue 17's step-up MFA in the
// compiled filter of a device whose class has mfaWithin, judged by the
// data plane's own matcher on the node's clock: a person without a recent
// second factor reaches nothing on it (not even through "*"), a person
// with one reaches what the policy grants until the window's end and no
// longer, tagged nodes and other addresses are not gated, and a device of
// a class without mfaWithin is left alone.
func TestStepUpMFAGatesPeopleOnTheDevice(t *testing.T) {
	plc := testNode("plc", "100.64.0.1", "fd7a::1", "", "tag:plc")
	plc.Risk = "critical"
	inv := Inventory{Nodes: []Node{plc,
		testNode("plc2", "100.64.0.5", "fd7a::5", "", "tag:plc"),
		testNode("pat-pc", "100.64.0.2", "fd7a::2", "pat@example.com"),
		testNode("pam-pc", "100.64.0.3", "fd7a::3", "pam@example.com"),
		testNode("op", "100.64.0.4", "fd7a::4", "", "tag:operator"),
	}}
	c := mustCompile(t, stepUpPolicy, inv)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	mfa := map[string]time.Time{"pat@example.com": now.Add(-5 * time.Minute), "pam@example.com": now.Add(-20 * time.Minute)}
	rules, err := c.Filter("plc")
	if err != nil {
		t.Fatal(err)
	}
	gated, next := c.GateMFA("plc", rules, mfa, now)
	if want := now.Add(10 * time.Minute); !next.Equal(want) {
		t.Errorf("next = %v; want pat's window's end %v", next, want)
	}
	pat, pam, op, other := netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("100.64.0.3"), netip.MustParseAddr("100.64.0.4"), netip.MustParseAddr("192.0.2.9")
	pat6 := netip.MustParseAddr("fd7a::2")
	dst, dst6 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd7a::1")
	tests := []struct {
		name string
		at   time.Time
		src  netip.Addr
		dst  netip.Addr
		port uint16
		want bool
	}{
		{"pat within the window, ssh", now, pat, dst, 22, true},
		{"pat within the window, through *", now, pat, dst, 80, true},
		{"pat within the window, v6", now, pat6, dst6, 22, true},
		{"pat within the window, ungranted port", now, pat, dst, 25, false},
		{"pat after the window", now.Add(10 * time.Minute), pat, dst, 22, false},
		{"pat after the window, through *", now.Add(10 * time.Minute), pat, dst, 80, false},
		{"pam's second factor is too old", now, pam, dst, 22, false},
		{"pam through *", now, pam, dst, 80, false},
		{"the tagged operator is no person", now.Add(time.Hour), op, dst, 22, true},
		{"another address through *", now.Add(time.Hour), other, dst, 80, true},
	}
	for _, tt := range tests {
		live, _ := filter.LiveAt(gated, tt.at)
		if got, _ := filter.Compile(live).Match(tt.src, tt.dst, filter.ProtoTCP, tt.port); got != tt.want {
			t.Errorf("%s: allowed %v; want %v", tt.name, got, tt.want)
		}
	}
	if _, next := c.GateMFA("plc", rules, nil, now); !next.IsZero() {
		t.Errorf("with no one's second factor, next = %v; want zero", next)
	}
	std, _ := c.Filter("plc2")
	if got, _ := c.GateMFA("plc2", std, nil, now); len(got) != len(std) || got[0].Deny {
		t.Errorf("a standard device's filter gated: %v", got)
	}
}
