package acl

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// denyPolicy lets operators and people reach cameras on every port, then
// refuses port 23 to everyone and the critical camera to all but the
// plant team.
const denyPolicy = `{
  "groups": {"group:plant": ["pat@example.com"]},
  "tagOwners": {"tag:camera": [], "tag:critical": [], "tag:operator": []},
  "acls": [
    {"action": "accept", "src": ["autogroup:member", "tag:operator"], "dst": ["tag:camera:*"]},
    {"action": "deny", "src": ["*"], "dst": ["*:23"]},
  ],
  "grants": [
    {"action": "deny", "src": ["autogroup:member"], "dst": ["tag:critical"], "ip": ["*"]},
    {"src": ["group:plant"], "dst": ["tag:critical"], "ip": ["*"]},
  ],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:camera:22"], "deny": ["tag:camera:23", "tag:critical:22"]},
    {"src": "tag:operator", "accept": ["tag:camera:80"], "deny": ["tag:camera:23"]},
  ],
}`

func denyInventory() Inventory {
	return Inventory{Nodes: []Node{
		testNode("cam1", "100.64.0.1", "fd7a::1", "", "tag:camera"),
		testNode("plc", "100.64.0.2", "fd7a::2", "", "tag:camera", "tag:critical"),
		testNode("op1", "100.64.0.3", "fd7a::3", "", "tag:operator"),
		testNode("laptop", "100.64.0.4", "fd7a::4", "alice@example.com"),
		testNode("pat-pc", "100.64.0.5", "fd7a::5", "pat@example.com"),
	}}
}

// TestDenyRulesOverrideAccepts pins issue 17's deny rules in the policy:
// a deny refuses what broader accepts allow, whatever their order; the
// compiled filter carries it; explain names it; a test expecting the
// refused flow fails naming it; deny rules make no peers; and the impact
// preview lists what a deny removes.
func TestDenyRulesOverrideAccepts(t *testing.T) {
	rs := mustCheck(t, denyPolicy, Options{})
	c := mustCompile(t, denyPolicy, denyInventory())

	wantFilters := map[string][]string{
		"cam1": {
			"100.64.0.3/32,100.64.0.4/32,100.64.0.5/32,fd7a::3/128,fd7a::4/128,fd7a::5/128 -> 100.64.0.1/32:* fd7a::1/128:*",
			"0.0.0.0/0,::/0 -> 100.64.0.1/32:23 fd7a::1/128:23 proto=6,17 deny",
		},
		"plc": {
			"100.64.0.3/32,100.64.0.4/32,100.64.0.5/32,fd7a::3/128,fd7a::4/128,fd7a::5/128 -> 100.64.0.2/32:* fd7a::2/128:*",
			"0.0.0.0/0,::/0 -> 100.64.0.2/32:23 fd7a::2/128:23 proto=6,17 deny",
			"100.64.0.4/32,100.64.0.5/32,fd7a::4/128,fd7a::5/128 -> 100.64.0.2/32:* fd7a::2/128:* deny",
			"100.64.0.5/32,fd7a::5/128 -> 100.64.0.2/32:* fd7a::2/128:*",
		},
	}
	if diff := cmp.Diff(wantFilters, filters(c)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		src, dst  string
		allow     bool
		deny      bool
		rule, why string
	}{
		{"alice@example.com", "tag:camera:22", true, false, "5:5", "allowed by the rule at 5:5"},
		{"alice@example.com", "tag:camera:23", false, true, "6:5", "denied by the deny rule at 6:5"},
		// Explain's tag:critical device holds no other tag: nothing accepts.
		{"alice@example.com", "tag:critical:22", false, false, "", "denied: no rule grants alice@example.com access to tag:critical:22 over tcp (default deny)"},
		// The plant team's own grant does not beat the deny of members:
		// denies come first, so pat is refused too.
		{"pat@example.com", "tag:critical:22", false, true, "9:5", "denied by the deny rule at 9:5"},
		{"tag:operator", "tag:camera:80", true, false, "5:5", "allowed by the rule at 5:5"},
	} {
		d, err := rs.Explain(tc.src, tc.dst, "tcp")
		if err != nil {
			t.Fatalf("Explain(%s, %s): %v", tc.src, tc.dst, err)
		}
		rule := ""
		if d.Rule != nil {
			rule = d.Rule.String()
		}
		if d.Allow != tc.allow || d.Deny != tc.deny || rule != tc.rule || d.Reason != tc.why {
			t.Errorf("Explain(%s, %s) = %+v (rule %v); want allow %v deny %v rule %s %q", tc.src, tc.dst, d, d.Rule, tc.allow, tc.deny, tc.rule, tc.why)
		}
	}

	// ICMP: the port-23 deny names ports, so pings still pass.
	if d, _ := rs.Explain("alice@example.com", "tag:camera:0", "icmp"); !d.Allow {
		t.Errorf("a deny of port 23 refuses ICMP: %+v", d)
	}

	// A test that expects what a deny refuses fails, naming the deny.
	bad := strings.Replace(denyPolicy, `"accept": ["tag:camera:22"]`, `"accept": ["tag:camera:23"]`, 1)
	_, _, err := Check("p.hujson", []byte(bad), Options{})
	if !errors.Is(err, ErrTestsFailed) || !strings.Contains(err.Error(), "refused by the deny rule at 6:5") {
		t.Errorf("Check of a test contradicting a deny = %v; want a failure naming the deny at 6:5", err)
	}

	// Deny rules make no peers: the laptop sees the cameras through the
	// accept, but op1 and the laptop do not see each other.
	if ok, _ := c.IsPeer("laptop", "op1"); ok {
		t.Error("a deny rule made laptop and op1 peers")
	}
	if diff := cmp.Diff([]string{"cam1", "plc"}, mustPeers(t, c, "laptop")); diff != "" {
		t.Errorf("laptop's peers (-want +got):\n%s", diff)
	}

	// The impact preview lists what adding the port-23 deny removes.
	without := strings.Replace(denyPolicy, `{"action": "deny", "src": ["*"], "dst": ["*:23"]},`, "", 1)
	without = strings.Replace(without, `"tag:camera:23", `, "", 1)
	without = strings.Replace(without, `, "deny": ["tag:camera:23"]`, "", 1)
	im, err := ImpactOf(mustCompile(t, without, denyInventory()), c)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, a := range im.Removed {
		removed = append(removed, a.Src+" "+a.Dst+" "+a.Proto+" "+a.Ports)
	}
	wantRemoved := []string{
		"alice@example.com cam1 tcp 23", "alice@example.com cam1 udp 23",
		"pat@example.com cam1 tcp 23", "pat@example.com cam1 udp 23",
		"tag:operator cam1 tcp 23", "tag:operator cam1 udp 23",
		"tag:operator plc tcp 23", "tag:operator plc udp 23",
	}
	if diff := cmp.Diff(wantRemoved, removed); diff != "" || len(im.Added) != 0 {
		t.Errorf("impact of the deny: removed (-want +got):\n%s\nadded: %v", diff, im.Added)
	}
}

func mustPeers(t *testing.T, c *Compiled, name string) []string {
	t.Helper()
	ps, err := c.Peers(name)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
