package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/filter"
)

// testFleet is the small fleet most table tests compile against: three
// users (alice in the file's group:ops, bob in the IdP's group:dev, carol in
// no group), tagged devices and a subnet router.
var testFleet = Inventory{
	Users: []User{
		{Email: "alice@example.com"},
		{Email: "bob@example.com", Groups: []string{"group:dev"}},
		{Email: "carol@example.com"},
	},
	Nodes: []Node{
		testNode("alice-laptop", "100.64.0.1", "fd7a:115c:a1e0::1", "alice@example.com"),
		testNode("alice-phone", "100.64.0.2", "fd7a:115c:a1e0::2", "alice@example.com"),
		testNode("bob-laptop", "100.64.0.3", "fd7a:115c:a1e0::3", "bob@example.com"),
		testNode("carol-laptop", "100.64.0.4", "fd7a:115c:a1e0::4", "carol@example.com"),
		testNode("cam1", "100.64.1.1", "fd7a:115c:a1e0::101", "", "tag:camera"),
		testNode("gw1", "100.64.2.1", "fd7a:115c:a1e0::201", "", "tag:gateway"),
		withRoutes(testNode("router", "100.64.3.1", "fd7a:115c:a1e0::301", "", "tag:router"), "10.1.0.0/16"),
	},
}

// testPolicyHead is the definitions part of the policy the table tests
// extend with one or more acls.
const testPolicyHead = `{
  "groups": {"group:ops": ["alice@example.com"]},
  "tagOwners": {
    "tag:camera": ["group:ops"],
    "tag:gateway": ["group:ops"],
    "tag:router": ["alice@example.com"],
  },
  "hosts": {"gwhost": "100.64.2.1", "lan": "10.1.0.0/16"},
`

func testNode(name, v4, v6, user string, tags ...string) Node {
	n := Node{Name: name, User: user, Tags: tags}
	if v4 != "" {
		n.IPv4 = netip.MustParseAddr(v4)
	}
	if v6 != "" {
		n.IPv6 = netip.MustParseAddr(v6)
	}
	return n
}

func withRoutes(n Node, routes ...string) Node {
	for _, r := range routes {
		n.Routes = append(n.Routes, netip.MustParsePrefix(r))
	}
	return n
}

// mustCheck checks a policy that must be valid (tests included).
func mustCheck(t testing.TB, policy string, opts Options) *Ruleset {
	t.Helper()
	rs, _, err := Check("policy.hujson", []byte(policy), opts)
	if err != nil {
		t.Fatalf("Check: %v\npolicy:\n%s", err, policy)
	}
	return rs
}

// mustCompile compiles a valid policy against inv, with inv's groups as
// the IdP's groups.
func mustCompile(t testing.TB, policy string, inv Inventory) *Compiled {
	t.Helper()
	rs := mustCheck(t, policy, Options{ExternalGroups: inv.ExternalGroups()})
	c, err := Compile(rs, inv)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

// fmtRule renders a filter rule on one line, for readable table diffs:
// "SRC,SRC -> DST:PORTS,DST:PORTS proto=6,17" (proto omitted = defaults).
func fmtRule(r filter.Rule) string {
	var sb strings.Builder
	for i, s := range r.Src {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(s.String())
	}
	sb.WriteString(" -> ")
	for i, d := range r.Dst {
		if i > 0 {
			sb.WriteByte(' ')
		}
		ports := make([]string, len(d.Ports))
		for j, p := range d.Ports {
			ports[j] = p.String()
		}
		fmt.Fprintf(&sb, "%s:%s", d.Net, strings.Join(ports, ","))
	}
	if len(r.Protos) > 0 {
		ps := make([]string, len(r.Protos))
		for i, p := range r.Protos {
			ps[i] = fmt.Sprint(uint8(p))
		}
		fmt.Fprintf(&sb, " proto=%s", strings.Join(ps, ","))
	}
	if r.Deny {
		sb.WriteString(" deny")
	}
	return sb.String()
}

// filters renders every node's non-empty filter, keyed by node name.
func filters(c *Compiled) map[string][]string {
	out := map[string][]string{}
	for name, res := range c.All() {
		for _, r := range res.Filter {
			out[name] = append(out[name], fmtRule(r))
		}
	}
	return out
}

// peerMap returns every node's peers, keyed by node name, leaving out nodes
// with none.
func peerMap(c *Compiled) map[string][]string {
	out := map[string][]string{}
	for name, res := range c.All() {
		if len(res.Peers) > 0 {
			out[name] = slices.Clone(res.Peers)
		}
	}
	return out
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// equateNetip lets go-cmp compare netip values (unexported fields).
var equateNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// fmtSscan parses "line:col" into p.
func fmtSscan(s string, p *Pos) (int, error) { return fmt.Sscanf(s, "%d:%d", &p.Line, &p.Col) }

// resultsEqual reports whether two sets of results are equal, as cmp.Equal
// would (nil and empty lists alike) but fast enough for property tests.
func resultsEqual(a, b map[string]NodeResult) bool {
	if len(a) != len(b) {
		return false
	}
	for name, ra := range a {
		rb, ok := b[name]
		if !ok || !resultEqual(ra, rb) {
			return false
		}
	}
	return true
}

func resultEqual(a, b NodeResult) bool {
	return slices.Equal(a.Peers, b.Peers) && slices.Equal(a.Origins, b.Origins) && slices.EqualFunc(a.Filter, b.Filter, ruleEqual)
}

func ruleEqual(a, b filter.Rule) bool {
	return a.Deny == b.Deny && slices.Equal(a.Src, b.Src) && slices.Equal(a.Protos, b.Protos) &&
		slices.EqualFunc(a.Dst, b.Dst, func(x, y filter.DstNet) bool { return x.Net == y.Net && slices.Equal(x.Ports, y.Ports) })
}
