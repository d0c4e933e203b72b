package acl

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/filter/filtertest"
)

// fuzzPolicies seed FuzzParse besides the files in testdata/.
var fuzzPolicies = []string{
	`{}`,
	policyForTests + `{"src": "alice@example.com", "accept": ["tag:camera:443"]}]}`,
	testPolicyHead + `"acls": [{"action": "accept", "src": ["*"], "dst": ["[fd00::1]:22", "fd00::2:80,443", "10.0.0.0/8:8000-8100"], "proto": "tcp"}]}`,
	`{"grants": [{"src": ["*"], "dst": ["autogroup:member"], "ip": ["tcp:22", "udp:*", "icmp:*", "443"]}]}`,
	`{"groups": {"group:a": ["group:b"]}, "acls": [{"action": "deny", "src": ["autogroup:self"], "dst": ["x:99999"], "proto": "bogus"}]}`,
	`{"hosts": {"wide": "100.0.0.0/8"}, "tagOwners": {"tag:t": []}, "acls": [{"action": "accept", "src": ["wide"], "dst": ["tag:t:*"]}],
	  "tests": [{"src": "a@b.c", "deny": ["tag:t:1"]}, {"src": "100.1.1.1", "accept": ["tag:t:1"]}]}`,
	"{\"acls\": [ // comment\n /* block */ ],}",
	`{"tagOwners": {"tag:t": []}, "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:t:*"]}, {"action": "deny", "src": ["autogroup:member"], "dst": ["*:23"]}],
	  "grants": [{"action": "deny", "src": ["*"], "dst": ["tag:t"], "ip": ["tcp:22"]}, {"action": "maybe", "src": ["*"], "dst": ["*"], "ip": ["*"]}],
	  "tests": [{"src": "a@b.c", "deny": ["tag:t:23"], "accept": ["tag:t:80"]}]}`,
	`{"groups": {"group:oncall": []}, "riskClasses": [{"name": "critical", "mfaWithin": "15m", "approval": "group:oncall", "maxDuration": "2h", "keyLifetime": "4h", "alertSeverity": "high"}, "standard"],
	  "acls": [{"action": "deny", "src": ["*"], "dst": ["risk:critical:*"]}], "tests": [{"src": "risk:standard", "deny": ["risk:critical:22"]}]}`,
	`{"acls": [{"action": "accept" "src": []}]}`,
	`{"tagOwners": {"tag:router": []}, "hosts": {"plc": "10.1.2.5", "lan": "10.1.0.0/16"},
	  "grants": [{"src": ["alice@example.com"], "dst": ["plc", "10.1.0.0/24", "autogroup:internet"], "ip": ["tcp:502"], "via": ["tag:router"]},
	             {"src": ["*"], "dst": ["lan"], "ip": ["*"], "via": []}, {"src": ["*"], "dst": ["tag:router"], "ip": ["*"], "via": ["tag:x", "group:y"]}],
	  "tests": [{"src": "alice@example.com", "accept": ["plc:502"], "deny": ["lan:502", "10.1.2.5/32:22"]}]}`,
	`{"tagOwners": {"tag:camera": []}, "grants": [{"src": ["*"], "dst": ["tag:camera"], "app": {"example.com/cap/view": [{"a": [1, {"b": null}]}, {}]}},
	  {"src": [], "dst": ["*"], "app": {"https://x/cap": [{}], "": [], "example.com/cap/y": {}, "example.com/cap/z": ["s"]}},
	  {"src": ["alice@example.com"], "dst": ["autogroup:self", "autogroup:internet"], "ip": ["*"], "app": {"example.com/cap/w": [{}]}}]}`,
	`{"grants": [{"src": ["autogroup:danger-all", "user:*@example.com", "*@EXAMPLE.com", "user:bob@example.com"], "dst": ["user:*@example.com", "autogroup:self"], "ip": ["tcp:0", "1-0", "22"]},
	  {"src": ["*"], "dst": ["0.0.0.0/0", "::/0", "autogroup:danger-all", "user:*@", "*@*", "user:"], "ip": ["*"], "srcPosture": []}]}`,
	`{"groups": {"group:eng": ["a@b.c"], "group:oncall": ["o@b.c"]}, "tagOwners": {"tag:t": []},
	  "grants": [{"src": ["group:eng"], "dst": ["tag:t"], "ip": ["tcp:22"], "approval": "group:oncall", "maxDuration": "1h"}],
	  "tests": [{"src": "a@b.c", "approved": true, "accept": ["tag:t:22"], "deny": ["tag:t:23"]}, {"src": "a@b.c", "approved": "yes", "deny": ["tag:t:22"]}]}`,
}

// FuzzParse feeds any bytes to Check: it must not panic or hang, and a
// rejection must be an ErrorList of real positions, in order.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hujson"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, p := range fuzzPolicies {
		f.Add([]byte(p))
	}
	opts := Options{ExternalGroups: map[string][]string{"group:idp": {"idp@example.com"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, _, err := Check("fuzz.hujson", data, opts)
		if err != nil {
			checkProblems(t, err, data)
			return
		}
		if rs == nil {
			t.Fatal("Check accepted the policy but returned no ruleset")
		}
		c, err := Compile(rs, testFleet)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		for name, res := range c.All() {
			if len(res.Origins) != len(res.Filter) {
				t.Fatalf("%s: %d origins for %d rules", name, len(res.Origins), len(res.Filter))
			}
			for _, r := range res.Filter {
				if err := r.Validate(); err != nil {
					t.Fatalf("%s: compiled an invalid rule %+v: %v", name, r, err)
				}
			}
		}
	})
}

func checkProblems(t *testing.T, err error, src []byte) {
	t.Helper()
	ps := Problems(err)
	if len(ps) == 0 {
		t.Fatalf("error without problems: %v", err)
	}
	lines := 1
	for _, b := range src {
		if b == '\n' {
			lines++
		}
	}
	for i, p := range ps {
		if p.Pos.Line < 1 || p.Pos.Col < 1 || p.Pos.Line > lines {
			t.Fatalf("problem at an impossible position: %s (input has %d lines)", p, lines)
		}
		if p.Msg == "" || p.File != "fuzz.hujson" {
			t.Fatalf("bad problem %#v", p)
		}
		if i > 0 && (p.Pos.Line < ps[i-1].Pos.Line || p.Pos.Line == ps[i-1].Pos.Line && p.Pos.Col < ps[i-1].Pos.Col) {
			t.Fatalf("problems out of order: %s before %s", ps[i-1], p)
		}
	}
}

// byteChooser makes a fuzzer's bytes the choices of a generator; past the
// end every choice is 0, so generation always ends.
type byteChooser struct{ b []byte }

func (c *byteChooser) Intn(n int) int {
	v := 0
	for range 2 {
		v <<= 8
		if len(c.b) > 0 {
			v |= int(c.b[0])
			c.b = c.b[1:]
		}
		if n <= 256 {
			break
		}
	}
	return v % n
}

// FuzzCompileMatch builds a policy and a small inventory from the fuzzer's
// bytes, compiles it fully and node by node (which must agree), builds each
// node's Matcher and checks its verdict on packets against the reference
// evaluation of the node's filter rules (filtertest) and against the
// policy's meaning (oracle).
func FuzzCompileMatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x05\x02\x01\x03\x07\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("a fleet of cameras, gateways and sensors with their operators and engineers"))
	f.Add([]byte{3, 1, 2, 9, 9, 0, 1, 5, 1, 9, 9, 9, 2, 2, 5, 1, 2, 1, 1, 0, 6, 12, 3, 0, 1, 1, 2, 2, 4, 4, 8, 1, 3, 2, 0, 0, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &byteChooser{b: data}
		g := newFleetGen(c)
		inv := g.inventory(c.Intn(12))
		pol := g.policy(1 + c.Intn(8))
		rs, _, err := Check("gen.hujson", []byte(pol.text()), Options{ExternalGroups: inv.ExternalGroups()})
		if err != nil {
			t.Fatalf("generated policy is invalid: %v\n%s", err, pol.text())
		}
		full, err := Compile(rs, inv)
		if err != nil {
			t.Fatal(err)
		}
		results := full.All()
		inc, _ := Compile(rs, Inventory{Users: inv.Users})
		for _, n := range inv.Nodes {
			if _, err := inc.AddNode(n); err != nil {
				t.Fatal(err)
			}
		}
		if !resultsEqual(results, inc.All()) {
			t.Fatalf("AddNode one by one differs from a full compile\npolicy:\n%s", pol.text())
		}
		o := newOracle(pol, inv)
		for _, node := range inv.Nodes {
			checkNodeMatcher(t, c, o, node, results[node.Name].Filter, pol)
		}
	})
}

var fuzzProtos = []filter.Proto{filter.ProtoTCP, filter.ProtoUDP, filter.ProtoICMP, filter.ProtoICMPv6, filter.ProtoSCTP, 47, 50}

func checkNodeMatcher(t *testing.T, c chooser, o *oracle, node Node, rules []filter.Rule, pol genPolicy) {
	t.Helper()
	m := filter.Compile(rules)
	srcs := fuzzSources(o.inv)
	dsts := []netip.Addr{node.IPv4, node.IPv6, netip.MustParseAddr("100.64.0.30")}
	for _, r := range node.Routes {
		dsts = append(dsts, r.Addr().Next())
	}
	for range 48 {
		src, dst := pick(c, srcs), pick(c, dsts)
		if !src.IsValid() || !dst.IsValid() {
			continue
		}
		proto := pick(c, fuzzProtos)
		port := pick(c, []uint16{0, 22, 80, 443, 8000, 8100, 8101, 65535, uint16(c.Intn(1 << 16))})
		got, idx := m.Match(src, dst, proto, port)
		ref, refIdx := filtertest.Match(rules, src, dst, proto, port)
		if got != ref || idx != refIdx {
			t.Fatalf("%s: Match(%v -> %v proto %d port %d) = %v, %d; reference %v, %d\nrules: %+v",
				node.Name, src, dst, proto, port, got, idx, ref, refIdx, rules)
		}
		if want := o.allows(node, src, dst, proto, port); got != want {
			t.Fatalf("%s: Match(%v -> %v proto %d port %d) = %v; the policy means %v\nnode: %+v\nrules: %+v\npolicy:\n%s",
				node.Name, src, dst, proto, port, got, want, node, rules, pol.text())
		}
	}
}

// fuzzSources are the packet sources to try: every node address and a few
// addresses inside (or outside) the generator's literals.
func fuzzSources(inv Inventory) []netip.Addr {
	srcs := []netip.Addr{
		netip.MustParseAddr("10.1.1.5"), netip.MustParseAddr("100.64.0.30"), netip.MustParseAddr("203.0.113.1"),
		netip.MustParseAddr("fd7a:115c:a1e0::30"), netip.MustParseAddr("2001:db8::1"),
	}
	for _, n := range inv.Nodes {
		srcs = append(srcs, n.IPv4, n.IPv6)
	}
	return srcs
}
