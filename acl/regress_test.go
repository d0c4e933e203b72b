package acl

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Regression tests, each named after the bug it pins.

// TestCheckReportsParseProblemsOnce: Resolve shared Parse's reporter, so
// Check listed every shape problem twice.
func TestCheckReportsParseProblemsOnce(t *testing.T) {
	_, _, err := Check("p.hujson", []byte(`{"bogus": 1, "acls": [{"action": "accept", "src": ["group:x"]}]}`), Options{})
	want := []string{
		`p.hujson:1:2: unknown top-level key "bogus" (known: groups, tagOwners, hosts, acls, grants, tests, riskClasses)`,
		`p.hujson:1:23: acl is missing "dst"`,
		`p.hujson:1:52: src group "group:x" is not defined in "groups" (nor supplied by the identity provider)`,
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestCheckMissingKeyHasNoZeroPosition: a test without "src" or an acl
// without "action" was also reported by Resolve at position 0:0.
func TestCheckMissingKeyHasNoZeroPosition(t *testing.T) {
	_, _, err := Check("p.hujson", []byte(`{
  "acls": [{"src": ["*"], "dst": ["*:*"]}],
  "tests": [{"accept": ["*:22"]}],
}`), Options{})
	want := []string{
		`p.hujson:2:12: acl is missing "action"`,
		`p.hujson:3:13: test is missing "src"`,
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestEmptyGroupSourceEmitsNoRule: a rule whose src matched no node (an
// empty group) put a rule with no source prefixes in the destination's
// filter, which filter.Rule.Validate rejects on the node.
func TestEmptyGroupSourceEmitsNoRule(t *testing.T) {
	policy := testPolicyHead + `"acls": [
    {"action": "accept", "src": ["group:empty"], "dst": ["tag:camera:80"]},
    {"action": "accept", "src": ["tag:nobody"], "dst": ["tag:camera:81"]},
    {"action": "accept", "src": ["group:empty", "192.0.2.1"], "dst": ["tag:camera:82"]},
  ]}`
	policy = strings.Replace(policy, `"groups": {`, `"groups": {"group:empty": [], `, 1)
	policy = strings.Replace(policy, `"tagOwners": {`, `"tagOwners": {"tag:nobody": [], `, 1)
	c := mustCompile(t, policy, testFleet)
	want := map[string][]string{"cam1": {"192.0.2.1/32 -> " + on("cam1", "82")}}
	if diff := cmp.Diff(want, filters(c)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	for name, res := range c.All() {
		for _, r := range res.Filter {
			if err := r.Validate(); err != nil {
				t.Errorf("%s: invalid rule %s: %v", name, fmtRule(r), err)
			}
		}
		if len(res.Origins) != len(res.Filter) {
			t.Errorf("%s: %d origins for %d rules", name, len(res.Origins), len(res.Filter))
		}
	}
}

// TestPolicyTestUserOutsideWideSourceCIDR: the synthetic fleet that judges
// policy tests gave up after 65,536 addresses covered by a policy literal,
// so with a wide src CIDR (100.0.0.0/8) a user who no rule names was judged
// as inside it and "accept" passed. (It also made every allocation scan
// 65,536 addresses per literal.)
func TestPolicyTestUserOutsideWideSourceCIDR(t *testing.T) {
	policy := `{
  "tagOwners": {"tag:cam": []},
  "hosts": {"cgnat": "100.0.0.0/8", "ula": "fd00::/8"},
  "acls": [{"action": "accept", "src": ["cgnat", "ula"], "dst": ["tag:cam:22"]}],
  "tests": [
    {"src": "bob@example.com", "deny": ["tag:cam:22"]},
    {"src": "100.1.2.3", "accept": ["tag:cam:22"]},
  ],
}`
	rs, results, err := Check("p.hujson", []byte(policy), Options{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !slices.ContainsFunc(results, func(r TestResult) bool { return r.Src == "bob@example.com" && r.Passed }) {
		t.Errorf("results = %+v, want bob denied", results)
	}
	d, err := rs.Explain("bob@example.com", "tag:cam:22", "")
	if err != nil || d.Allow {
		t.Errorf("Explain(bob) = %+v, %v; want deny", d, err)
	}
}

// TestPolicyTestsBuildMatchersForDestinationsOnly: judging policy tests
// built a Matcher for every synthetic node, sources included, so a policy
// with many rules and many test sources took seconds (2,000 of each: 10 s).
// Only destinations need a Matcher.
func TestPolicyTestsBuildMatchersForDestinationsOnly(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"tagOwners": {"tag:t": []}, "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:t:22"]}], "tests": [`)
	for i := range 50 {
		fmt.Fprintf(&sb, `{"src": "u%d@example.com", "accept": ["tag:t:22"]},`, i)
	}
	sb.WriteString("]}")
	rs := mustCheck(t, sb.String(), Options{})
	w := newWorld(rs)
	var qs []*query
	for i := range rs.tests {
		for _, d := range rs.tests[i].accept {
			qs = append(qs, w.prepare(&rs.tests[i], d, true))
		}
	}
	if err := w.compile(); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if res := w.run(q); !res.Passed {
			t.Errorf("%+v", res)
		}
	}
	if len(w.inv.Nodes) != 51 || len(w.matchers) != 1 {
		t.Errorf("%d synthetic nodes, %d matchers; want 51 nodes and 1 matcher (tag:t's)", len(w.inv.Nodes), len(w.matchers))
	}
}
