package acl

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
)

// on renders a testFleet node's own addresses as filter destinations with
// ports, as fmtRule does.
func on(node, ports string) string {
	n := fleetNode(node)
	return fmt.Sprintf("%s/32:%s %s/128:%s", n.IPv4, ports, n.IPv6, ports)
}

// from renders the source prefixes of testFleet nodes as fmtRule does:
// sorted, IPv4 first.
func from(nodes ...string) string {
	var ps []netip.Prefix
	for _, name := range nodes {
		n := fleetNode(name)
		ps = append(ps, netip.PrefixFrom(n.IPv4, 32), netip.PrefixFrom(n.IPv6, 128))
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func fleetNode(name string) Node {
	for _, n := range testFleet.Nodes {
		if n.Name == name {
			return n
		}
	}
	panic("no test node " + name)
}

var (
	alices  = []string{"alice-laptop", "alice-phone"}
	members = []string{"alice-laptop", "alice-phone", "bob-laptop", "carol-laptop"}
	tagged  = []string{"cam1", "gw1", "router"}
	all     = append(slices.Clone(members), tagged...)
)

// compileCase is one policy (the shared definitions plus acls) and the
// filters (and optionally peers) it must compile to on testFleet.
type compileCase struct {
	name  string
	acls  string
	want  map[string][]string
	peers map[string][]string // nil: not checked
}

func runCompileCases(t *testing.T, cases []compileCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policy := testPolicyHead + `"acls": [` + tc.acls + `]}`
			c := mustCompile(t, policy, testFleet)
			if diff := cmp.Diff(tc.want, filters(c)); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
			if tc.peers != nil {
				if diff := cmp.Diff(tc.peers, peerMap(c)); diff != "" {
					t.Errorf("peers (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func acl(src, dst string) string {
	return fmt.Sprintf(`{"action": "accept", "src": [%s], "dst": [%s]}`, src, dst)
}

func aclProto(src, dst, proto string) string {
	return fmt.Sprintf(`{"action": "accept", "src": [%s], "dst": [%s], "proto": %q}`, src, dst, proto)
}

// others returns all testFleet nodes but the named ones.
func others(but ...string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(but, n) })
}

func TestCompileAliasKinds(t *testing.T) {
	camFrom := func(src string) map[string][]string {
		return map[string][]string{"cam1": {src + " -> " + on("cam1", "22")}}
	}
	runCompileCases(t, []compileCase{
		{
			name:  "wildcard src",
			acls:  acl(`"*"`, `"tag:camera:22"`),
			want:  camFrom("0.0.0.0/0,::/0"),
			peers: peersOfStar("cam1"),
		},
		{name: "user src", acls: acl(`"alice@example.com"`, `"tag:camera:22"`), want: camFrom(from(alices...)),
			peers: map[string][]string{"cam1": alices, "alice-laptop": {"cam1"}, "alice-phone": {"cam1"}}},
		{name: "group from the file", acls: acl(`"group:ops"`, `"tag:camera:22"`), want: camFrom(from(alices...))},
		{name: "group from the IdP", acls: acl(`"group:dev"`, `"tag:camera:22"`), want: camFrom(from("bob-laptop"))},
		{name: "tag src", acls: acl(`"tag:gateway"`, `"tag:camera:22"`), want: camFrom(from("gw1")),
			peers: map[string][]string{"cam1": {"gw1"}, "gw1": {"cam1"}}},
		{name: "autogroup:member src", acls: acl(`"autogroup:member"`, `"tag:camera:22"`), want: camFrom(from(members...))},
		{name: "autogroup:tagged src", acls: acl(`"autogroup:tagged"`, `"tag:camera:22"`), want: camFrom(from(tagged...))},
		{
			name: "autogroup:self dst with autogroup:member src",
			acls: acl(`"autogroup:member"`, `"autogroup:self:22"`),
			want: map[string][]string{
				"alice-laptop": {from(alices...) + " -> " + on("alice-laptop", "22")},
				"alice-phone":  {from(alices...) + " -> " + on("alice-phone", "22")},
				"bob-laptop":   {from("bob-laptop") + " -> " + on("bob-laptop", "22")},
				"carol-laptop": {from("carol-laptop") + " -> " + on("carol-laptop", "22")},
			},
			peers: map[string][]string{"alice-laptop": {"alice-phone"}, "alice-phone": {"alice-laptop"}},
		},
		{
			name: "autogroup:self dst with a user src",
			acls: acl(`"bob@example.com"`, `"autogroup:self:*"`),
			want: map[string][]string{"bob-laptop": {from("bob-laptop") + " -> " + on("bob-laptop", "*")}},
		},
		{
			name: "autogroup:self dst with a group src covers only the group's users",
			acls: acl(`"group:ops"`, `"autogroup:self:22"`),
			want: map[string][]string{
				"alice-laptop": {from(alices...) + " -> " + on("alice-laptop", "22")},
				"alice-phone":  {from(alices...) + " -> " + on("alice-phone", "22")},
			},
		},
		{name: "autogroup:internet dst reaches no node", acls: acl(`"*"`, `"autogroup:internet:*"`),
			want: map[string][]string{}, peers: map[string][]string{}},
		{name: "hosts name dst", acls: acl(`"alice@example.com"`, `"gwhost:443"`),
			want: map[string][]string{"gw1": {from(alices...) + " -> 100.64.2.1/32:443"}}},
		{name: "hosts CIDR dst on a subnet route", acls: acl(`"alice@example.com"`, `"lan:22"`),
			want:  map[string][]string{"router": {from(alices...) + " -> 10.1.0.0/16:22"}},
			peers: map[string][]string{"router": alices, "alice-laptop": {"router"}, "alice-phone": {"router"}}},
		{name: "IPv4 dst", acls: acl(`"alice@example.com"`, `"100.64.1.1:80"`),
			want: map[string][]string{"cam1": {from(alices...) + " -> 100.64.1.1/32:80"}}},
		{name: "IPv6 dst in brackets", acls: acl(`"alice@example.com"`, `"[fd7a:115c:a1e0::101]:80"`),
			want: map[string][]string{"cam1": {from(alices...) + " -> fd7a:115c:a1e0::101/128:80"}}},
		{name: "IPv6 dst bare", acls: acl(`"alice@example.com"`, `"fd7a:115c:a1e0::101:80"`),
			want: map[string][]string{"cam1": {from(alices...) + " -> fd7a:115c:a1e0::101/128:80"}}},
		{name: "IPv4 CIDR dst narrows to the node", acls: acl(`"alice@example.com"`, `"100.64.1.0/24:*"`),
			want: map[string][]string{"cam1": {from(alices...) + " -> 100.64.1.1/32:*"}}},
		{name: "IPv6 CIDR dst narrows to the node", acls: acl(`"alice@example.com"`, `"[fd7a:115c:a1e0::100/120]:*"`),
			want: map[string][]string{"cam1": {from(alices...) + " -> fd7a:115c:a1e0::101/128:*"}}},
		{name: "CIDR dst inside a route", acls: acl(`"alice@example.com"`, `"10.1.2.0/24:22"`),
			want: map[string][]string{"router": {from(alices...) + " -> 10.1.2.0/24:22"}}},
		{name: "IPv4 src", acls: acl(`"192.0.2.7"`, `"tag:camera:22"`), want: camFrom("192.0.2.7/32"),
			peers: map[string][]string{}},
		{name: "IPv6 src", acls: acl(`"2001:db8::7"`, `"tag:camera:22"`), want: camFrom("2001:db8::7/128")},
		{name: "IPv4 CIDR src covering a route", acls: acl(`"10.1.0.0/16"`, `"tag:camera:22"`), want: camFrom("10.1.0.0/16"),
			peers: map[string][]string{"cam1": {"router"}, "router": {"cam1"}}},
		{name: "IPv6 CIDR src", acls: acl(`"fd00::/8"`, `"tag:camera:22"`), want: camFrom("fd00::/8")},
		{name: "hosts name src", acls: acl(`"gwhost"`, `"tag:camera:22"`), want: camFrom("100.64.2.1/32"),
			peers: map[string][]string{"cam1": {"gw1"}, "gw1": {"cam1"}}},
		{name: "wildcard dst", acls: acl(`"tag:camera"`, `"*:22"`), want: wildcardDst(from("cam1"), "22")},
		{name: "several src and dst", acls: acl(`"bob@example.com", "tag:gateway"`, `"tag:camera:22", "gwhost:80"`),
			want: map[string][]string{
				"cam1": {from("bob-laptop", "gw1") + " -> " + on("cam1", "22")},
				"gw1":  {from("bob-laptop", "gw1") + " -> 100.64.2.1/32:80"},
			}},
	})
}

// peersOfStar is the peer map of "* may reach node": node sees everyone and
// everyone sees node.
func peersOfStar(node string) map[string][]string {
	out := map[string][]string{node: others(node)}
	for _, n := range others(node) {
		out[n] = []string{node}
	}
	return out
}

func wildcardDst(src, ports string) map[string][]string {
	out := map[string][]string{}
	for _, n := range all {
		dst := on(n, ports)
		if n == "router" {
			dst += " 10.1.0.0/16:" + ports
		}
		out[n] = []string{src + " -> " + dst}
	}
	return out
}

func TestCompilePortForms(t *testing.T) {
	var cases []compileCase
	for _, ports := range []struct{ in, want string }{
		{"*", "*"},
		{"22", "22"},
		{"80,443", "80,443"},
		{"8000-8100", "8000-8100"},
		{"22,80-90,443", "22,80-90,443"},
		{"0-65535", "*"},
		{"0", "0"},
		{"65535", "65535"},
	} {
		cases = append(cases, compileCase{
			name: ports.in,
			acls: acl(`"tag:gateway"`, `"tag:camera:`+ports.in+`"`),
			want: map[string][]string{"cam1": {from("gw1") + " -> " + on("cam1", ports.want)}},
		})
	}
	runCompileCases(t, cases)
}

func TestCompileProtocols(t *testing.T) {
	var cases []compileCase
	for _, p := range []struct{ proto, ports, want string }{
		{"", "22", ""}, // absent: the defaults (TCP, UDP, ICMP, ICMPv6), encoded as no list
		{"tcp", "22", " proto=6"},
		{"udp", "53", " proto=17"},
		{"TCP", "22", " proto=6"},
		{"sctp", "9", " proto=132"},
		{"icmp", "*", " proto=1,58"},
		{"ipv6-icmp", "*", " proto=58"},
		{"gre", "*", " proto=47"},
		{"esp", "*", " proto=50"},
		{"6", "22", " proto=6"},
		{"17", "53", " proto=17"},
		{"1", "*", " proto=1"},
		{"255", "*", " proto=255"},
	} {
		rule := acl(`"tag:gateway"`, `"tag:camera:`+p.ports+`"`)
		if p.proto != "" {
			rule = aclProto(`"tag:gateway"`, `"tag:camera:`+p.ports+`"`, p.proto)
		}
		cases = append(cases, compileCase{
			name: "proto " + p.proto,
			acls: rule,
			want: map[string][]string{"cam1": {from("gw1") + " -> " + on("cam1", p.ports) + p.want}},
		})
	}
	runCompileCases(t, cases)
}

// TestCompileExternalGroupsMerge checks that a group defined in the file and
// supplied by the IdP holds both sets of members, and that a group only the
// IdP supplies may be referenced.
func TestCompileExternalGroupsMerge(t *testing.T) {
	policy := testPolicyHead + `"acls": [` +
		acl(`"group:ops"`, `"tag:camera:22"`) + `,` +
		acl(`"group:idp-only"`, `"tag:gateway:22"`) + `]}`
	inv := testFleet
	inv.Users = []User{
		{Email: "bob@example.com", Groups: []string{"group:ops"}},
		{Email: "carol@example.com", Groups: []string{"group:idp-only"}},
	}
	c := mustCompile(t, policy, inv)
	want := map[string][]string{
		"cam1": {from("alice-laptop", "alice-phone", "bob-laptop") + " -> " + on("cam1", "22")},
		"gw1":  {from("carol-laptop") + " -> " + on("gw1", "22")},
	}
	if diff := cmp.Diff(want, filters(c)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}

	// Without the IdP's groups, group:idp-only is undefined.
	_, _, err := Check("policy.hujson", []byte(policy), Options{})
	if got := Problems(err); len(got) != 1 || !strings.Contains(got[0].Msg, `group "group:idp-only" is not defined`) {
		t.Errorf("Check without external groups = %v, want one undefined-group problem", err)
	}
}

// TestCompileRuleOrderAndOrigins checks that a node's filter follows policy
// order, that Origins point at each rule, and that results are
// deterministic.
func TestCompileRuleOrderAndOrigins(t *testing.T) {
	policy := testPolicyHead + `"acls": [
    {"action": "accept", "src": ["tag:gateway"], "dst": ["tag:camera:80"]},
    {"action": "accept", "src": ["group:ops"], "dst": ["tag:gateway:22"]},
    {"action": "accept", "src": ["bob@example.com"], "dst": ["tag:camera:443"]},
  ]}`
	c := mustCompile(t, policy, testFleet)
	res, err := c.Result("cam1")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for i, r := range res.Filter {
		got = append(got, res.Origins[i].String()+" "+fmtRule(r))
	}
	want := []string{
		"10:5 " + from("gw1") + " -> " + on("cam1", "80"),
		"12:5 " + from("bob-laptop") + " -> " + on("cam1", "443"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cam1 filter (-want +got):\n%s", diff)
	}
	if f, err := c.Filter("cam1"); err != nil || !cmp.Equal(f, res.Filter, equateNetip) {
		t.Errorf("Filter(cam1) = %v, %v; want Result's filter", f, err)
	}
	again, _ := mustCompile(t, policy, testFleet).Result("cam1")
	if diff := cmp.Diff(res, again, equateNetip); diff != "" {
		t.Errorf("second compile differs:\n%s", diff)
	}
}

func TestCompileInventoryErrors(t *testing.T) {
	rs := mustCheck(t, testPolicyHead+`"acls": []}`, Options{})
	for _, tc := range []struct {
		name  string
		nodes []Node
		want  error
	}{
		{"no name", []Node{{IPv4: netip.MustParseAddr("100.64.0.1")}}, ErrBadNode},
		{"duplicate name", []Node{{Name: "a"}, {Name: "a"}}, ErrDuplicateNode},
		{"IPv6 in ipv4", []Node{{Name: "a", IPv4: netip.MustParseAddr("fd00::1")}}, ErrBadNode},
		{"IPv4 in ipv6", []Node{{Name: "a", IPv6: netip.MustParseAddr("100.64.0.1")}}, ErrBadNode},
		{"4in6 in ipv6", []Node{{Name: "a", IPv6: netip.MustParseAddr("::ffff:100.64.0.1")}}, ErrBadNode},
		{"bad route", []Node{{Name: "a", Routes: []netip.Prefix{{}}}}, ErrBadNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Compile(rs, Inventory{Nodes: tc.nodes}); !errorsIs(err, tc.want) {
				t.Errorf("Compile error = %v, want %v", err, tc.want)
			}
		})
	}
	c, err := Compile(rs, testFleet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Result("nope"); !errorsIs(err, ErrUnknownNode) {
		t.Errorf("Result(nope) = %v, want ErrUnknownNode", err)
	}
	if _, err := c.Filter("nope"); !errorsIs(err, ErrUnknownNode) {
		t.Errorf("Filter(nope) = %v, want ErrUnknownNode", err)
	}
	if _, err := c.RemoveNode("nope"); !errorsIs(err, ErrUnknownNode) {
		t.Errorf("RemoveNode(nope) = %v, want ErrUnknownNode", err)
	}
	if _, err := c.UpdateNode(Node{Name: "nope"}); !errorsIs(err, ErrUnknownNode) {
		t.Errorf("UpdateNode(nope) = %v, want ErrUnknownNode", err)
	}
	if _, err := c.AddNode(Node{Name: "cam1"}); !errorsIs(err, ErrDuplicateNode) {
		t.Errorf("AddNode(cam1) = %v, want ErrDuplicateNode", err)
	}
}

// TestCompiledFilterPortsAndICMP checks, through the Matcher the data plane
// runs, that a rule without "proto" covers TCP, UDP, ICMP and ICMPv6, that
// ICMP ignores the rule's ports, and that "proto": "icmp" allows nothing
// else.
func TestCompiledFilterPortsAndICMP(t *testing.T) {
	policy := testPolicyHead + `"acls": [` +
		acl(`"tag:gateway"`, `"tag:camera:22"`) + `,` +
		aclProto(`"alice@example.com"`, `"tag:camera:*"`, "icmp") + `]}`
	c := mustCompile(t, policy, testFleet)
	res, err := c.Result("cam1")
	if err != nil {
		t.Fatal(err)
	}
	m := filter.Compile(res.Filter)
	gw, alice, cam := fleetNode("gw1"), fleetNode("alice-laptop"), fleetNode("cam1")
	for _, tc := range []struct {
		src, dst netip.Addr
		proto    filter.Proto
		port     uint16
		want     bool
	}{
		{gw.IPv4, cam.IPv4, filter.ProtoTCP, 22, true},
		{gw.IPv4, cam.IPv4, filter.ProtoUDP, 22, true},
		{gw.IPv4, cam.IPv4, filter.ProtoTCP, 23, false},
		{gw.IPv4, cam.IPv4, filter.ProtoICMP, 0, true},
		{gw.IPv6, cam.IPv6, filter.ProtoICMPv6, 0, true},
		{gw.IPv4, cam.IPv4, filter.ProtoSCTP, 22, false},
		{alice.IPv4, cam.IPv4, filter.ProtoICMP, 0, true},
		{alice.IPv6, cam.IPv6, filter.ProtoICMPv6, 9, true},
		{alice.IPv4, cam.IPv4, filter.ProtoTCP, 22, false},
		{alice.IPv4, cam.IPv6, filter.ProtoICMP, 0, false},
	} {
		if got, _ := m.Match(tc.src, tc.dst, tc.proto, tc.port); got != tc.want {
			t.Errorf("Match(%v -> %v proto %d port %d) = %v, want %v", tc.src, tc.dst, tc.proto, tc.port, got, tc.want)
		}
	}
}
