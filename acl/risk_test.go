package acl

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const riskPolicy = `{
  "groups": {"group:plant": ["pat@example.com"], "group:oncall": ["olga@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [
    {"name": "critical", "keyLifetime": "4h", "mfaWithin": "15m", "approval": "group:oncall", "maxDuration": "2h", "alertSeverity": "critical"},
    {"name": "sensitive", "mfaWithin": "1h"},
    "standard",
  ],
  "acls": [
    {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:camera:*"]},
    {"action": "deny", "src": ["autogroup:member"], "dst": ["risk:critical:*"]},
    {"action": "accept", "src": ["group:plant"], "dst": ["risk:critical:502"], "proto": "tcp"},
  ],
  "tests": [
    {"src": "alice@example.com", "deny": ["risk:critical:502"]},
  ],
}`

// TestRiskClassesInPolicy pins issue 17's device risk classes in the
// policy: classes with their requirements, risk:NAME in rules and tests,
// the default class for a node no one classified, and a reclassified node
// moving between the rules.
func TestRiskClassesInPolicy(t *testing.T) {
	rs := mustCheck(t, riskPolicy, Options{})
	want := []RiskClass{
		{Name: "critical", KeyLifetime: 4 * time.Hour, MFAWithin: 15 * time.Minute, Approval: "group:oncall", MaxDuration: 2 * time.Hour, AlertSeverity: "critical"},
		{Name: "sensitive", MFAWithin: time.Hour},
		{Name: "standard"},
	}
	if diff := cmp.Diff(want, rs.RiskClasses()); diff != "" {
		t.Errorf("risk classes (-want +got):\n%s", diff)
	}
	if rs.DefaultRiskClass() != "standard" || rs.RiskOf("") != "standard" || rs.RiskOf("gone") != "standard" || rs.RiskOf("critical") != "critical" {
		t.Errorf("default class %q, RiskOf(\"\") %q", rs.DefaultRiskClass(), rs.RiskOf(""))
	}
	if err := rs.CheckRiskClass("bogus"); !errors.Is(err, ErrUnknownRiskClass) {
		t.Errorf("CheckRiskClass(bogus) = %v", err)
	}
	if d := mustCheck(t, `{}`, Options{}); !cmp.Equal(d.RiskClasses(), []RiskClass{{Name: "critical"}, {Name: "sensitive"}, {Name: "standard"}}) {
		t.Errorf("default classes = %+v", d.RiskClasses())
	}

	plc := testNode("plc", "100.64.0.1", "fd7a::1", "", "tag:camera")
	plc.Risk = "critical"
	inv := Inventory{Nodes: []Node{plc,
		testNode("cam", "100.64.0.2", "fd7a::2", "", "tag:camera"),
		testNode("pat-pc", "100.64.0.3", "fd7a::3", "pat@example.com"),
	}}
	c := mustCompile(t, riskPolicy, inv)
	want4 := map[string][]string{
		"cam": {"100.64.0.3/32,fd7a::3/128 -> 100.64.0.2/32:* fd7a::2/128:*"},
		"plc": {
			"100.64.0.3/32,fd7a::3/128 -> 100.64.0.1/32:* fd7a::1/128:*",
			"100.64.0.3/32,fd7a::3/128 -> 100.64.0.1/32:* fd7a::1/128:* deny",
			"100.64.0.3/32,fd7a::3/128 -> 100.64.0.1/32:502 fd7a::1/128:502 proto=6",
		},
	}
	if diff := cmp.Diff(want4, filters(c)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	// Reclassified as standard, the plc leaves the deny (and the grant).
	plc.Risk = ""
	if _, err := c.UpdateNode(plc); err != nil {
		t.Fatal(err)
	}
	if got := filters(c)["plc"]; len(got) != 1 || strings.Contains(got[0], "deny") {
		t.Errorf("reclassified plc's filter = %v; want only the camera accept", got)
	}
	if d, err := rs.Explain("pat@example.com", "risk:critical:502", "tcp"); err != nil || d.Allow || !d.Deny {
		t.Errorf("Explain(pat, risk:critical:502) = %+v, %v; want the member deny to decide", d, err)
	}
}

// TestRiskClassErrors: every problem of "riskClasses" is reported at its
// position.
func TestRiskClassErrors(t *testing.T) {
	const bad = `{
  "riskClasses": [
    {"name": "Critical", "mfaWithin": "soon", "approval": "group:nobody", "alertSeverity": "dire", "color": "red"},
    "ok", "ok", {"keyLifetime": "1h"}, 7,
  ],
  "acls": [{"action": "accept", "src": ["*"], "dst": ["risk:critical:22"]}],
}`
	_, _, err := Check("p.hujson", []byte(bad), Options{})
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.String())
	}
	want := []string{
		`p.hujson:3:14: risk class "Critical": a name is lowercase letters, digits and '-', starting with a letter`,
		`p.hujson:3:39: risk class Critical: "soon" is not a positive duration like "15m" or "4h"`,
		`p.hujson:3:59: risk class Critical: approval "group:nobody" must be a group defined in "groups" (or by the identity provider)`,
		`p.hujson:3:92: risk class Critical: alertSeverity "dire" is not one of info, low, medium, high, critical`,
		`p.hujson:3:100: unknown key "color" in a risk class (known: name, keyLifetime, mfaWithin, approval, maxDuration, alertSeverity)`,
		`p.hujson:4:11: risk class "ok" is defined twice`,
		`p.hujson:4:17: risk class is missing "name"`,
		`p.hujson:4:40: a risk class must be a string, not a number`,
		`p.hujson:6:55: dst risk class "critical" is not defined in "riskClasses"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestKeyLifetimeForPeopleReachingAClass: a person who may reach a device
// of a class with a keyLifetime gets at most that lifetime; one who may
// not, none from the class.
func TestKeyLifetimeForPeopleReachingAClass(t *testing.T) {
	const pol = `{
  "groups": {"group:plant": ["pat@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [{"name": "critical", "keyLifetime": "1h"}, {"name": "sensitive", "keyLifetime": "4h"}, "standard"],
  "acls": [
    {"action": "accept", "src": ["group:plant"], "dst": ["risk:critical:502"]},
    {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:camera:*"]},
  ],
}`
	cam := testNode("cam", "100.64.0.2", "fd7a::2", "", "tag:camera")
	cam.Risk = "sensitive"
	c := mustCompile(t, pol, Inventory{Nodes: []Node{cam}})
	for who, want := range map[string]time.Duration{"pat@example.com": time.Hour, "alice@example.com": 4 * time.Hour} {
		if got := c.KeyLifetimeFor(who); got != want {
			t.Errorf("KeyLifetimeFor(%s) = %v, want %v", who, got, want)
		}
	}
	c2 := mustCompile(t, pol, Inventory{})
	if got := c2.KeyLifetimeFor("alice@example.com"); got != 0 {
		t.Errorf("with no sensitive device, alice's cap = %v, want none", got)
	}
}
