package acl

import (
	"net/netip"
	"strings"
	"testing"
)

// TestAutoApproversApproveRoutes: the policy's autoApprovers, in
// Tailscale's format, approve a route within a listed prefix for the
// listed tags, users and groups' members, and nothing else.
func TestAutoApproversApproveRoutes(t *testing.T) {
	policy := testPolicyHead + `
  "acls": [],
  "autoApprovers": {
    "routes": {
      "192.168.10.0/24": ["tag:gateway", "group:ops"],
      "lan": ["bob@example.com"],
    },
    "exitNode": ["tag:gateway"],
  },
}`
	rs, _, err := Check("p.hujson", []byte(policy), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		route string
		user  string
		tags  []string
		want  bool
	}{
		{"192.168.10.0/24", "", []string{"tag:gateway"}, true},
		{"192.168.10.5/32", "", []string{"tag:gateway"}, true},
		{"192.168.0.0/16", "", []string{"tag:gateway"}, false}, // wider than approved
		{"192.168.10.0/24", "", []string{"tag:camera"}, false},
		{"192.168.10.0/24", "alice@example.com", nil, true}, // group:ops
		{"192.168.10.0/24", "carol@example.com", nil, false},
		{"10.1.2.0/24", "bob@example.com", nil, true}, // hosts name
		{"10.1.2.0/24", "bob@example.com", []string{"tag:camera"}, false},
	}
	for _, tc := range tests {
		if got := rs.AutoApproves(netip.MustParsePrefix(tc.route), tc.user, tc.tags); got != tc.want {
			t.Errorf("AutoApproves(%s, %q, %v) = %v, want %v", tc.route, tc.user, tc.tags, got, tc.want)
		}
	}
}

// TestAutoApproversRefuseUnknownApprovers: an undefined tag, an autogroup
// and a bad CIDR are errors with their positions.
func TestAutoApproversRefuseUnknownApprovers(t *testing.T) {
	policy := testPolicyHead + `
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:nope", "autogroup:member"], "nonsense": []}},
}`
	_, _, err := Check("p.hujson", []byte(policy), Options{})
	if err == nil {
		t.Fatal("Check accepted bad autoApprovers")
	}
	for _, want := range []string{"tag:nope", "autogroup:member", "nonsense"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
