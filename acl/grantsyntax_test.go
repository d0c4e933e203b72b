package acl

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// grantFleet is testFleet with a plant gateway (tag:plant-gw, serving
// 192.168.10.0/24), a second router serving the same LAN without that
// tag, a plant gateway elsewhere (10.9.0.0/16), and a user of another
// domain.
func grantFleet() Inventory {
	inv := Inventory{Users: slices.Clone(testFleet.Users), Nodes: slices.Clone(testFleet.Nodes)}
	inv.Users = append(inv.Users, User{Email: "dave@other.org"})
	inv.Nodes = append(inv.Nodes,
		withRoutes(testNode("gw-plant", "100.64.2.10", "fd7a:115c:a1e0::210", "", "tag:plant-gw"), "192.168.10.0/24"),
		withRoutes(testNode("lan-router", "100.64.3.2", "fd7a:115c:a1e0::302", "", "tag:lan"), "192.168.10.0/24"),
		withRoutes(testNode("gw-far", "100.64.2.11", "fd7a:115c:a1e0::211", "", "tag:plant-gw"), "10.9.0.0/16"),
		testNode("dave-laptop", "100.64.0.9", "fd7a:115c:a1e0::9", "dave@other.org"),
	)
	return inv
}

// grantHead is testPolicyHead with the tags and hosts of grantFleet.
const grantHead = `{
  "groups": {"group:ops": ["alice@example.com"]},
  "tagOwners": {"tag:camera": [], "tag:gateway": [], "tag:router": [], "tag:plant-gw": [], "tag:lan": []},
  "hosts": {"plc": "192.168.10.5", "plant": "192.168.10.0/24"},
`

const aliceSrc = "100.64.0.1/32,100.64.0.2/32,fd7a:115c:a1e0::1/128,fd7a:115c:a1e0::2/128"

// TestGrantViaAppliesOnlyOnItsRouters: a grant with "via" is enforced on
// the routers with one of its tags that serve a route toward its
// destination, and nowhere else: a router serving the same LAN without
// the tag, and a tagged router elsewhere, get nothing from it; only its
// sources and those routers become peers.
func TestGrantViaAppliesOnlyOnItsRouters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grants string
		want   map[string][]string
		peers  map[string][]string
	}{
		{
			name:   "address via a tag",
			grants: `{"src": ["group:ops"], "dst": ["192.168.10.5"], "ip": ["tcp:502"], "via": ["tag:plant-gw"]}`,
			want:   map[string][]string{"gw-plant": {aliceSrc + " -> 192.168.10.5/32:502 proto=6"}},
			peers: map[string][]string{"alice-laptop": {"gw-plant"}, "alice-phone": {"gw-plant"},
				"gw-plant": {"alice-laptop", "alice-phone"}},
		},
		{
			name:   "hosts name via a tag",
			grants: `{"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:502", "udp:47808"], "via": ["tag:plant-gw"]}`,
			want: map[string][]string{"gw-plant": {aliceSrc + " -> 192.168.10.5/32:502 proto=6",
				aliceSrc + " -> 192.168.10.5/32:47808 proto=17"}},
			peers: map[string][]string{"alice-laptop": {"gw-plant"}, "alice-phone": {"gw-plant"},
				"gw-plant": {"alice-laptop", "alice-phone"}},
		},
		{
			name:   "a wider CIDR narrows to the router's route",
			grants: `{"src": ["alice@example.com"], "dst": ["192.168.0.0/16"], "ip": ["*"], "via": ["tag:plant-gw", "tag:lan"]}`,
			want: map[string][]string{"gw-plant": {aliceSrc + " -> 192.168.10.0/24:*"},
				"lan-router": {aliceSrc + " -> 192.168.10.0/24:*"}},
			peers: map[string][]string{"alice-laptop": {"gw-plant", "lan-router"}, "alice-phone": {"gw-plant", "lan-router"},
				"gw-plant": {"alice-laptop", "alice-phone"}, "lan-router": {"alice-laptop", "alice-phone"}},
		},
		{
			name:   "empty or null via means any router",
			grants: `{"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:502"], "via": []}, {"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:503"], "via": null}`,
			want: map[string][]string{"gw-plant": {aliceSrc + " -> 192.168.10.5/32:502 proto=6", aliceSrc + " -> 192.168.10.5/32:503 proto=6"},
				"lan-router": {aliceSrc + " -> 192.168.10.5/32:502 proto=6", aliceSrc + " -> 192.168.10.5/32:503 proto=6"}},
			peers: map[string][]string{"alice-laptop": {"gw-plant", "lan-router"}, "alice-phone": {"gw-plant", "lan-router"},
				"gw-plant": {"alice-laptop", "alice-phone"}, "lan-router": {"alice-laptop", "alice-phone"}},
		},
		{
			name:   "no router with the tag serves it",
			grants: `{"src": ["alice@example.com"], "dst": ["172.16.0.0/12"], "ip": ["*"], "via": ["tag:plant-gw"]}`,
			want:   map[string][]string{},
			peers:  map[string][]string{},
		},
		{
			name:   "autogroup:internet: Ward has no exit nodes",
			grants: `{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"], "via": ["tag:plant-gw"]}`,
			want:   map[string][]string{},
			peers:  map[string][]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, grantHead+`"grants": [`+tc.grants+`]}`, grantFleet())
			if diff := cmp.Diff(tc.want, filters(c)); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.peers, peerMap(c)); diff != "" {
				t.Errorf("peers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGrantViaTellsTheMapWhichRoutersCarryARoute: Via and ViaRouters
// expose, for a route, which router tags (and routers) carry it for which
// sources; a source no via grant covers is not steered.
func TestGrantViaTellsTheMapWhichRoutersCarryARoute(t *testing.T) {
	c := mustCompile(t, grantHead+`"grants": [
    {"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:502", "tcp:22"], "via": ["tag:plant-gw"]},
    {"src": ["bob@example.com"], "dst": ["plant"], "ip": ["tcp:80"]},
  ]}`, grantFleet())
	lan := netip.MustParsePrefix("192.168.10.0/24")
	want := []ViaRoute{{Dst: netip.MustParsePrefix("192.168.10.5/32"), Tags: []string{"tag:plant-gw"},
		Routers: []string{"gw-plant"}, Sources: []string{"alice-laptop", "alice-phone"}}}
	if diff := cmp.Diff(want, c.Via(lan), equateNetip); diff != "" {
		t.Errorf("Via(%s) (-want +got):\n%s", lan, diff)
	}
	if got := c.Via(netip.MustParsePrefix("10.9.0.0/16")); len(got) != 0 {
		t.Errorf("Via(10.9.0.0/16) = %+v, want none", got)
	}
	for _, tc := range []struct {
		src     string
		routers []string
		steered bool
	}{
		{"alice-laptop", []string{"gw-plant"}, true},
		{"bob-laptop", nil, false},
	} {
		routers, steered, err := c.ViaRouters(tc.src, lan)
		if err != nil || steered != tc.steered || !slices.Equal(routers, tc.routers) {
			t.Errorf("ViaRouters(%s) = %v, %v, %v; want %v, %v", tc.src, routers, steered, err, tc.routers, tc.steered)
		}
	}
	if _, _, err := c.ViaRouters("nobody", lan); !errorsIs(err, ErrUnknownNode) {
		t.Errorf("ViaRouters(nobody) error = %v, want ErrUnknownNode", err)
	}
	// The non-via grant to the LAN applies on both routers serving it.
	f := filters(c)
	bobSrc := "100.64.0.3/32,fd7a:115c:a1e0::3/128 -> 192.168.10.0/24:80 proto=6"
	if !slices.Contains(f["lan-router"], bobSrc) || !slices.Contains(f["gw-plant"], bobSrc) {
		t.Errorf("bob's grant to the LAN: filters %v", f)
	}
}

// TestGrantViaFollowsNodeChanges: a router gaining or losing the via tag
// or the route updates incrementally exactly as a full compile does.
func TestGrantViaFollowsNodeChanges(t *testing.T) {
	policy := grantHead + `"grants": [{"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:502"], "via": ["tag:plant-gw"]}]}`
	full := grantFleet()
	var without Inventory
	without.Users = full.Users
	for _, n := range full.Nodes {
		if n.Name != "gw-plant" {
			without.Nodes = append(without.Nodes, n)
		}
	}
	c := mustCompile(t, policy, without)
	if f := filters(c); len(f) != 0 {
		t.Fatalf("filters without the gateway: %v", f)
	}
	gw := full.Nodes[slices.IndexFunc(full.Nodes, func(n Node) bool { return n.Name == "gw-plant" })]
	changed, err := c.AddNode(gw)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice-laptop", "alice-phone", "gw-plant"}; !slices.Equal(changed, want) {
		t.Errorf("AddNode changed %v, want %v", changed, want)
	}
	if !resultsEqual(c.All(), mustCompile(t, policy, full).All()) {
		t.Errorf("incremental results differ from a full compile")
	}
	untagged := gw
	untagged.Tags = []string{"tag:lan"}
	if _, err := c.UpdateNode(untagged); err != nil {
		t.Fatal(err)
	}
	if f := filters(c); len(f) != 0 {
		t.Errorf("filters after the gateway lost tag:plant-gw: %v", f)
	}
}

// TestGrantAppCarriesCapabilitiesNotTraffic: a grant with only "app"
// capabilities is accepted; it makes its sources and destinations peers and
// carries the capabilities to the destinations, in the policy model and
// the compiled result, but grants no IP traffic. Beside "ip", the "ip"
// part grants as usual.
func TestGrantAppCarriesCapabilitiesNotTraffic(t *testing.T) {
	policy := grantHead + `"grants": [
    {"src": ["alice@example.com"], "dst": ["tag:camera"], "app": {"example.com/cap/view": [{"stream": "hd", /* comment */ "fps": 30,}]}},
    {"src": ["bob@example.com"], "dst": ["tag:gateway"], "ip": ["tcp:443"], "app": {"example.com/cap/admin": [{}]}},
  ]}`
	c := mustCompile(t, policy, grantFleet())
	app := c.Ruleset().Policy().Grants[0].App
	if len(app) != 1 || app[0].Name.S != "example.com/cap/view" || len(app[0].Values) != 1 ||
		string(app[0].Values[0]) != `{"stream":"hd","fps":30}` {
		t.Errorf("policy model app = %+v", app)
	}
	want := map[string][]string{"gw1": {"100.64.0.3/32,fd7a:115c:a1e0::3/128 -> 100.64.2.1/32:443 fd7a:115c:a1e0::201/128:443 proto=6"}}
	if diff := cmp.Diff(want, filters(c)); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	peers := peerMap(c)
	if !slices.Contains(peers["cam1"], "alice-laptop") || !slices.Contains(peers["alice-phone"], "cam1") {
		t.Errorf("an app grant makes peers: %v", peers)
	}
	res, err := c.Result("cam1")
	if err != nil {
		t.Fatal(err)
	}
	wantCaps := []CapGrant{{Src: mustPrefixes(t, strings.Split(aliceSrc, ",")...),
		Caps: map[string][]json.RawMessage{"example.com/cap/view": {json.RawMessage(`{"stream":"hd","fps":30}`)}}}}
	if diff := cmp.Diff(wantCaps, res.Caps, equateNetip); diff != "" {
		t.Errorf("caps of cam1 (-want +got):\n%s", diff)
	}
	if res, _ := c.Result("gw1"); len(res.Caps) != 1 || res.Caps[0].Caps["example.com/cap/admin"] == nil {
		t.Errorf("caps of gw1 = %+v", res.Caps)
	}
	if res, _ := c.Result("bob-laptop"); len(res.Caps) != 0 {
		t.Errorf("caps of a source = %+v, want none", res.Caps)
	}
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestGrantDangerAllAndUserWildcards: autogroup:danger-all is every
// address as a source; user:*@domain and *@domain are every user of the
// domain (not tagged nodes, not other domains); user:name@domain is the
// user.
func TestGrantDangerAllAndUserWildcards(t *testing.T) {
	const cam = " -> 100.64.1.1/32:22 fd7a:115c:a1e0::101/128:22 proto=6"
	for _, tc := range []struct {
		name, grant string
		want        map[string][]string
	}{
		{"danger-all source", `{"src": ["autogroup:danger-all"], "dst": ["tag:camera"], "ip": ["tcp:22"]}`,
			map[string][]string{"cam1": {"0.0.0.0/0,::/0" + cam}}},
		{"user:*@domain source", `{"src": ["user:*@other.org"], "dst": ["tag:camera"], "ip": ["tcp:22"]}`,
			map[string][]string{"cam1": {"100.64.0.9/32,fd7a:115c:a1e0::9/128" + cam}}},
		{"*@domain source, domain in any case", `{"src": ["*@OTHER.org"], "dst": ["tag:camera"], "ip": ["tcp:22"]}`,
			map[string][]string{"cam1": {"100.64.0.9/32,fd7a:115c:a1e0::9/128" + cam}}},
		{"user: prefix", `{"src": ["user:bob@example.com"], "dst": ["tag:camera"], "ip": ["tcp:22"]}`,
			map[string][]string{"cam1": {"100.64.0.3/32,fd7a:115c:a1e0::3/128" + cam}}},
		{"user:*@domain destination", `{"src": ["tag:gateway"], "dst": ["user:*@other.org"], "ip": ["tcp:22"]}`,
			map[string][]string{"dave-laptop": {"100.64.2.1/32,fd7a:115c:a1e0::201/128 -> 100.64.0.9/32:22 fd7a:115c:a1e0::9/128:22 proto=6"}}},
		{"user:*@domain to autogroup:self", `{"src": ["user:*@other.org"], "dst": ["autogroup:self"], "ip": ["tcp:22"]}`,
			map[string][]string{"dave-laptop": {"100.64.0.9/32,fd7a:115c:a1e0::9/128 -> 100.64.0.9/32:22 fd7a:115c:a1e0::9/128:22 proto=6"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, grantHead+`"grants": [`+tc.grant+`]}`, grantFleet())
			if diff := cmp.Diff(tc.want, filters(c)); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGrantValidationAsTailscale: the grant forms Tailscale refuses are
// refused, each problem naming the grant by index and field, and nothing
// of the policy is kept.
func TestGrantValidationAsTailscale(t *testing.T) {
	for _, tc := range []struct {
		name, grant, want string
	}{
		{"autogroup:self from *", `{"src": ["*"], "dst": ["autogroup:self"], "ip": ["22"]}`,
			`grants[1].src[0] "*": a grant to autogroup:self can only come from users, groups or autogroup:member`},
		{"autogroup:self from a tag", `{"src": ["alice@example.com", "tag:camera"], "dst": ["autogroup:self"], "ip": ["*"]}`,
			`grants[1].src[1] "tag:camera": a grant to autogroup:self can only come from users, groups or autogroup:member`},
		{"autogroup:self from danger-all", `{"src": ["autogroup:danger-all"], "dst": ["autogroup:self"], "ip": ["*"]}`,
			`grants[1].src[0] "autogroup:danger-all": a grant to autogroup:self`},
		{"port 0", `{"src": ["*"], "dst": ["tag:camera"], "ip": ["tcp:0"]}`,
			`grants[1].ip[0] "tcp:0": ports start at 1; use "*" for every port`},
		{"port range from 0", `{"src": ["*"], "dst": ["tag:camera"], "ip": ["22", "0-80"]}`,
			`grants[1].ip[1] "0-80": ports start at 1`},
		{"0.0.0.0/0", `{"src": ["*"], "dst": ["tag:camera", "0.0.0.0/0"], "ip": ["tcp:443"]}`,
			`grants[1].dst[1] "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"`},
		{"::/0", `{"src": ["*"], "dst": ["::/0"], "ip": ["tcp:443"]}`,
			`grants[1].dst[0] "::/0": to allow all IP addresses, use "*" or "autogroup:internet"`},
		{"danger-all as a destination", `{"src": ["*"], "dst": ["autogroup:danger-all"], "ip": ["*"]}`,
			`grants[1].dst[0] autogroup:danger-all can only be used in a source`},
		{"via a non-tag", `{"src": ["*"], "dst": ["plc"], "ip": ["*"], "via": ["group:ops"]}`,
			`grants[1].via[0] "group:ops": via names the tags of routers`},
		{"via an undefined tag", `{"src": ["*"], "dst": ["plc"], "ip": ["*"], "via": ["tag:nope"]}`,
			`grants[1].via[0] "tag:nope": via names the tags of routers`},
		{"via toward a tag", `{"src": ["*"], "dst": ["tag:camera"], "ip": ["*"], "via": ["tag:plant-gw"]}`,
			`grants[1].dst[0] "tag:camera": a grant with "via" reaches addresses behind routers`},
		{"via on a deny", `{"action": "deny", "src": ["*"], "dst": ["plc"], "ip": ["*"], "via": ["tag:plant-gw"]}`,
			`grants[1].via: a deny grant or one that needs approval cannot have "via"`},
		{"capability name without a domain", `{"src": ["*"], "dst": ["*"], "app": {"https://example.com/cap/x": [{}]}}`,
			`grants[1].app[0] "https://example.com/cap/x": a capability name has the form {domain}/{path}`},
		{"app to autogroup:internet", `{"src": ["*"], "dst": ["autogroup:internet"], "app": {"example.com/cap/x": [{}]}}`,
			`grants[1].dst[0]: a grant with "app" cannot target autogroup:internet`},
		{"app on a deny", `{"action": "deny", "src": ["*"], "dst": ["*"], "ip": ["*"], "app": {"example.com/cap/x": [{}]}}`,
			`grants[1].app: a deny grant or one that needs approval cannot carry "app" capabilities`},
		{"app value not a list", `{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": {}}}`,
			`capability example.com/cap/x must be a list of objects, not an object`},
		{"app entry not an object", `{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": ["rw"]}}`,
			`capability example.com/cap/x entry must be an object, not a string`},
		{"neither ip nor app", `{"src": ["*"], "dst": ["*"]}`,
			`grant has neither "ip" nor "app"`},
		{"srcPosture", `{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:x"]}`,
			`grants with "srcPosture" are not supported by Ward: it has no device posture`},
		{"bad user wildcard", `{"src": ["user:*@"], "dst": ["*"], "ip": ["*"]}`,
			`grants[1].src bad user wildcard "user:*@": expected *@domain`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := grantHead + `"grants": [{"src": ["*"], "dst": ["tag:camera"], "ip": ["tcp:22"]}, ` + tc.grant + `]}`
			rs, _, err := Check("p.hujson", []byte(policy), Options{})
			if rs != nil || err == nil {
				t.Fatalf("Check accepted the policy (ruleset %v)", rs != nil)
			}
			ps := problems(err)
			if len(ps) != 1 || !strings.Contains(ps[0], tc.want) {
				t.Errorf("problems = %q, want one containing %q", ps, tc.want)
			}
		})
	}
}

// TestGrantViaPolicyTests: a policy test through a via grant is judged on
// a router the grant applies on.
func TestGrantViaPolicyTests(t *testing.T) {
	mustCheck(t, grantHead+`"grants": [{"src": ["alice@example.com"], "dst": ["plc"], "ip": ["tcp:502"], "via": ["tag:plant-gw"]}],
  "tests": [
    {"src": "alice@example.com", "accept": ["plc:502", "192.168.10.5:502"], "deny": ["192.168.10.6:502", "plc:22"]},
    {"src": "bob@example.com", "deny": ["plc:502"]},
  ]}`, Options{})
}
