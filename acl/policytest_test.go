package acl

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// policyForTests grants:
//
//	line 10: group:ops -> tag:camera:80,443 (tcp, udp, icmp by default)
//	line 11: tag:gateway -> tag:camera:554 over udp
//	line 12: autogroup:member -> autogroup:self:22
//	line 13: bob -> lan (10.1.0.0/16):*
//	line 14: * -> gwhost:8883 over tcp
//	line 15: 192.0.2.0/24 -> tag:camera:* over icmp
//	line 16: alice -> tag:router:22
const policyForTests = `{
  "groups": {"group:ops": ["alice@example.com", "dave@example.com"]},
  "tagOwners": {"tag:camera": ["group:ops"], "tag:gateway": ["group:ops"], "tag:router": []},
  "hosts": {
    "gwhost": "100.64.2.1",
    "lan": "10.1.0.0/16",
    "office": "192.0.2.0/24",
  },
  "acls": [
    {"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:80,443"]},
    {"action": "accept", "src": ["tag:gateway"], "dst": ["tag:camera:554"], "proto": "udp"},
    {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]},
    {"action": "accept", "src": ["bob@example.com"], "dst": ["lan:*"]},
    {"action": "accept", "src": ["*"], "dst": ["gwhost:8883"], "proto": "tcp"},
    {"action": "accept", "src": ["office"], "dst": ["tag:camera:*"], "proto": "icmp"},
    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:router:22"]},
  ],
  "tests": [
`

// testResult is the part of a TestResult a table compares.
type testResult struct {
	Src, Dst, Want, Got string
	Rule                string // the allowing rule's line:col, or ""
	Passed              bool
}

func simplify(rs []TestResult) []testResult {
	var out []testResult
	for _, r := range rs {
		s := testResult{Src: r.Src, Dst: r.Dst, Want: r.Want, Got: r.Got, Passed: r.Passed}
		if r.Rule != nil {
			s.Rule = r.Rule.String()
		}
		out = append(out, s)
	}
	return out
}

func TestRunTestsPassing(t *testing.T) {
	for _, tc := range []struct {
		name string
		test string
		want []testResult
	}{
		{"user src accept", `{"src": "alice@example.com", "accept": ["tag:camera:443"]}`,
			[]testResult{{"alice@example.com", "tag:camera:443", "accept", "accept", "10:5", true}}},
		{"group src accept and deny", `{"src": "group:ops", "accept": ["tag:camera:80"], "deny": ["tag:camera:22", "tag:gateway:80"]}`,
			[]testResult{
				{"group:ops", "tag:camera:80", "accept", "accept", "10:5", true},
				{"group:ops", "tag:camera:22", "deny", "deny", "", true},
				{"group:ops", "tag:gateway:80", "deny", "deny", "", true},
			}},
		{"tag src with proto", `{"src": "tag:gateway", "proto": "udp", "accept": ["tag:camera:554"]}`,
			[]testResult{{"tag:gateway", "tag:camera:554", "accept", "accept", "11:5", true}}},
		{"proto decides: tcp is the test default", `{"src": "tag:gateway", "deny": ["tag:camera:554"]}`,
			[]testResult{{"tag:gateway", "tag:camera:554", "deny", "deny", "", true}}},
		{"proto by number", `{"src": "tag:gateway", "proto": "17", "accept": ["tag:camera:554"]}`,
			[]testResult{{"tag:gateway", "tag:camera:554", "accept", "accept", "11:5", true}}},
		{"icmp from a CIDR", `{"src": "192.0.2.9", "proto": "icmp", "accept": ["tag:camera:0"]}`,
			[]testResult{{"192.0.2.9", "tag:camera:0", "accept", "accept", "15:5", true}}},
		{"icmp by default protocols", `{"src": "alice@example.com", "proto": "icmp", "accept": ["tag:camera:0"]}`,
			[]testResult{{"alice@example.com", "tag:camera:0", "accept", "accept", "10:5", true}}},
		{"autogroup:self", `{"src": "carol@example.com", "accept": ["autogroup:self:22"], "deny": ["autogroup:self:23"]}`,
			[]testResult{
				{"carol@example.com", "autogroup:self:22", "accept", "accept", "12:5", true},
				{"carol@example.com", "autogroup:self:23", "deny", "deny", "", true},
			}},
		{"user is not another user's self", `{"src": "carol@example.com", "deny": ["alice@example.com:22"]}`,
			[]testResult{{"carol@example.com", "alice@example.com:22", "deny", "deny", "", true}}},
		{"address inside a CIDR dst", `{"src": "bob@example.com", "accept": ["10.1.2.3:1", "10.1.2.3:5432"], "deny": ["10.2.0.1:22"]}`,
			[]testResult{
				{"bob@example.com", "10.1.2.3:1", "accept", "accept", "13:5", true},
				{"bob@example.com", "10.1.2.3:5432", "accept", "accept", "13:5", true},
				{"bob@example.com", "10.2.0.1:22", "deny", "deny", "", true},
			}},
		{"wildcard src", `{"src": "autogroup:tagged", "accept": ["gwhost:8883", "100.64.2.1:8883"], "deny": ["gwhost:8884"]}`,
			[]testResult{
				{"autogroup:tagged", "gwhost:8883", "accept", "accept", "14:5", true},
				{"autogroup:tagged", "100.64.2.1:8883", "accept", "accept", "14:5", true},
				{"autogroup:tagged", "gwhost:8884", "deny", "deny", "", true},
			}},
		{"autogroup:member src", `{"src": "autogroup:member", "deny": ["tag:camera:80"]}`,
			[]testResult{{"autogroup:member", "tag:camera:80", "deny", "deny", "", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, results, err := Check("p.hujson", []byte(policyForTests+tc.test+"]}"), Options{})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rs == nil {
				t.Fatal("Check returned no ruleset")
			}
			if diff := cmp.Diff(tc.want, simplify(results)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunTestsFailing(t *testing.T) {
	for _, tc := range []struct {
		name string
		test string
		want []string
	}{
		{"accept fails", `{"src": "alice@example.com", "accept": ["tag:camera:22"]}`,
			[]string{`p.hujson:19:45: test failed: alice@example.com -> tag:camera:22: expected accept, got deny`}},
		{"deny fails and names the rule", `{"src": "group:ops", "deny": ["tag:camera:443"]}`,
			[]string{`p.hujson:19:35: test failed: group:ops -> tag:camera:443: expected deny, got accept (allowed by the rule at 10:5)`}},
		{"wrong proto", `{"src": "tag:gateway", "proto": "tcp", "accept": ["tag:camera:554"]}`,
			[]string{`p.hujson:19:55: test failed: tag:gateway -> tag:camera:554: expected accept, got deny`}},
		{"group src with no access", `{"src": "group:ops", "accept": ["10.1.2.3:22"]}`,
			[]string{`p.hujson:19:37: test failed: group:ops -> 10.1.2.3:22: expected accept, got deny`}},
		{"group src where one member lacks access", `{"src": "group:ops", "accept": ["tag:router:22"]}`,
			[]string{`p.hujson:19:37: test failed: group:ops -> tag:router:22: expected accept, got deny (allowed by the rule at 16:5)`}},
		{"every failure at once", `{"src": "carol@example.com", "accept": ["tag:camera:80", "autogroup:self:22"], "deny": ["gwhost:8883"]},
    {"src": "tag:camera", "accept": ["tag:gateway:8883"]}`,
			[]string{
				`p.hujson:19:45: test failed: carol@example.com -> tag:camera:80: expected accept, got deny`,
				`p.hujson:19:93: test failed: carol@example.com -> gwhost:8883: expected deny, got accept (allowed by the rule at 14:5)`,
				`p.hujson:20:38: test failed: tag:camera -> tag:gateway:8883: expected accept, got deny`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, results, err := Check("p.hujson", []byte(policyForTests+"    "+tc.test+"]}"), Options{})
			if rs != nil {
				t.Error("Check returned a ruleset for a policy whose tests fail")
			}
			if !errors.Is(err, ErrTestsFailed) {
				t.Errorf("error %v does not wrap ErrTestsFailed", err)
			}
			if diff := cmp.Diff(tc.want, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			failed := 0
			for _, r := range results {
				if !r.Passed {
					failed++
				}
			}
			if failed != len(tc.want) {
				t.Errorf("%d failed results, want %d: %+v", failed, len(tc.want), results)
			}
		})
	}
}

// TestPolicyTestNamesOneHost: as in Tailscale, a test's destination is one
// host and one port, so a test naming a CIDR (directly, as a /32, or
// through a hosts name defined as a CIDR) makes the policy invalid, even
// when the grant covers the whole CIDR; a hosts name for one address and
// an address inside a granted CIDR stay fine.
func TestPolicyTestNamesOneHost(t *testing.T) {
	const policy = `{
  "tagOwners": {"tag:client": []},
  "hosts": {"internal": "10.0.0.0/8", "one": "10.1.2.3/32", "plain": "10.1.2.4"},
  "grants": [{"src": ["tag:client"], "dst": ["internal"], "ip": ["tcp:22"]}],
  "tests": [{"src": "tag:client", "accept": [%s]}],
}`
	for _, tc := range []struct {
		name, dst, want string
	}{
		{"hosts name for a CIDR", `"internal:22"`,
			`p.hujson:5:46: test destination "internal:22": a test names one host and one port, but hosts name internal is the CIDR 10.0.0.0/8: name one address`},
		{"hosts name for a /32", `"one:22"`,
			`p.hujson:5:46: test destination "one:22": a test names one host and one port, but hosts name one is the CIDR 10.1.2.3/32: name one address`},
		{"CIDR literal", `"10.0.0.0/8:22"`,
			`p.hujson:5:46: test destination "10.0.0.0/8:22": a test names one host and one port, not the CIDR 10.0.0.0/8: name one address`},
		{"/32 literal", `"10.1.2.3/32:22"`,
			`p.hujson:5:46: test destination "10.1.2.3/32:22": a test names one host and one port, not the CIDR 10.1.2.3/32: name one address`},
		{"hosts name for one address", `"plain:22"`, ""},
		{"address inside the CIDR", `"10.1.2.3:22"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, _, err := Check("p.hujson", []byte(fmt.Sprintf(policy, tc.dst)), Options{})
			if tc.want == "" {
				if err != nil || rs == nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if rs != nil {
				t.Error("Check returned a ruleset for a test naming a CIDR")
			}
			if diff := cmp.Diff([]string{tc.want}, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	rs := mustCheck(t, policyForTests+"]}", Options{})
	pos := func(s string) *Pos {
		var p Pos
		if _, err := fmtSscan(s, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	for _, tc := range []struct {
		src, dst, proto string
		want            Decision
	}{
		{"alice@example.com", "tag:camera:443", "", Decision{Allow: true, Rule: pos("10:5"), Reason: "allowed by the rule at 10:5"}},
		{"group:ops", "tag:camera:80", "tcp", Decision{Allow: true, Rule: pos("10:5"), Reason: "allowed by the rule at 10:5"}},
		{"tag:gateway", "tag:camera:554", "udp", Decision{Allow: true, Rule: pos("11:5"), Reason: "allowed by the rule at 11:5"}},
		{"tag:gateway", "tag:camera:554", "", Decision{Reason: "denied: no rule grants tag:gateway access to tag:camera:554 over tcp (default deny)"}},
		{"192.0.2.1", "tag:camera:0", "icmp", Decision{Allow: true, Rule: pos("15:5"), Reason: "allowed by the rule at 15:5"}},
		{"office", "tag:camera:22", "", Decision{Reason: "denied: no rule grants office access to tag:camera:22 over tcp (default deny)"}},
		{"carol@example.com", "autogroup:self:22", "", Decision{Allow: true, Rule: pos("12:5"), Reason: "allowed by the rule at 12:5"}},
		{"bob@example.com", "10.0.0.0/8:22", "", Decision{Reason: "denied: no rule grants bob@example.com access to 10.0.0.0/8:22 over tcp (default deny)"}},
		{"group:ops", "tag:router:22", "", Decision{Rule: pos("16:5"), Reason: "only partly allowed (the rule at 16:5 covers part of tag:router:22)"}},
		{"alice@example.com", "tag:router:22", "", Decision{Allow: true, Rule: pos("16:5"), Reason: "allowed by the rule at 16:5"}},
		{"autogroup:member", "gwhost:8883", "6", Decision{Allow: true, Rule: pos("14:5"), Reason: "allowed by the rule at 14:5"}},
		{"autogroup:member", "gwhost:8883", "udp", Decision{Reason: "denied: no rule grants autogroup:member access to gwhost:8883 over udp (default deny)"}},
	} {
		t.Run(tc.src+" "+tc.dst+" "+tc.proto, func(t *testing.T) {
			got, err := rs.Explain(tc.src, tc.dst, tc.proto)
			if err != nil {
				t.Fatalf("Explain: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExplainErrors(t *testing.T) {
	rs := mustCheck(t, policyForTests+"]}", Options{})
	for _, tc := range []struct{ src, dst, proto, want string }{
		{"tag:nope", "tag:camera:22", "", `explain: unknown identity: tag "tag:nope" has no entry in "tagOwners"`},
		{"group:nope", "tag:camera:22", "", `explain: unknown identity: group "group:nope" is not defined in "groups" (nor supplied by the identity provider)`},
		{"nohost", "tag:camera:22", "", `explain: unknown identity: "nohost" is not a defined host, user, group:, tag:, autogroup:, IP or CIDR`},
		{"autogroup:self", "tag:camera:22", "", `explain: unknown identity: autogroup:self can only be used in a destination`},
		{"alice@example.com", "tag:camera:22", "tcpp", `explain: unknown protocol "tcpp": use a name (tcp, udp, icmp, sctp, gre, esp, ah, ...) or a number from 1 to 255`},
		{"alice@example.com", "tag:camera", "", `explain: destination "tag:camera": destination "tag:camera" has no ports: expected ALIAS:PORTS, for example tag:camera:22 or tag:camera:*`},
		{"alice@example.com", "tag:camera:20-22", "", `explain: destination "tag:camera:20-22": a test names exactly one port, not "20-22"`},
		{"tag:camera", "autogroup:self:22", "", `explain: autogroup:self needs a user (or group) source`},
	} {
		t.Run(tc.src+" "+tc.dst, func(t *testing.T) {
			d, err := rs.Explain(tc.src, tc.dst, tc.proto)
			if err == nil {
				t.Fatalf("Explain = %+v, want error %q", d, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err, tc.want)
			}
		})
	}
}

// TestPolicyTestsJudgeApprovedRequests pins issue 17's policy tests of
// approvals: a test with "approved": true is judged as if every request
// the approval grants allow had been approved (alice reaches tcp 22, and
// nothing more, and a deny still wins); without it the approval grant
// opens nothing; "approved" must be a boolean.
func TestPolicyTestsJudgeApprovedRequests(t *testing.T) {
	const head = `{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["olga@example.com"]},
  "tagOwners": {"tag:camera": []},
  "grants": [{"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22", "tcp:23"], "approval": "group:oncall", "maxDuration": "2h"}],
  "acls": [{"action": "deny", "src": ["*"], "dst": ["*:23"]}],
  "tests": [`
	tests := []struct {
		name   string
		tests  string
		passed []bool
	}{
		{"approved opens the port", `{"src": "alice@example.com", "approved": true, "accept": ["tag:camera:22"], "deny": ["tag:camera:80", "tag:camera:23"]}`, []bool{true, true, true}},
		{"without approval nothing", `{"src": "alice@example.com", "deny": ["tag:camera:22"]}, {"src": "alice@example.com", "accept": ["tag:camera:22"]}`, []bool{true, false}},
		{"others are not helped", `{"src": "olga@example.com", "approved": true, "deny": ["tag:camera:22"]}`, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("p.hujson", []byte(head+tt.tests+`]}`))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Resolve(rs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := res.RunTests()
			if len(got) != len(tt.passed) {
				t.Fatalf("results %+v; want %d", got, len(tt.passed))
			}
			for i, r := range got {
				if r.Passed != tt.passed[i] {
					t.Errorf("test %d (%s): passed %v; want %v (%+v)", i, r.Dst, r.Passed, tt.passed[i], r)
				}
			}
		})
	}
	if _, _, err := Check("p.hujson", []byte(head+`{"src": "alice@example.com", "approved": "yes", "accept": ["tag:camera:22"]}]}`), Options{}); err == nil ||
		!strings.Contains(err.Error(), `"approved" must be true or false`) {
		t.Errorf("a string approved: %v", err)
	}
}
