package acl

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// TestPeerClass checks PeerClass and ClassPeers against Result on random
// fleets and policies (autogroup:self and literal sources included): a
// node's peers are its class's peers less itself, and nodes with equal
// keys have equal class peers.
func TestPeerClass(t *testing.T) {
	shared := 0
	for seed := int64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			g := newFleetGen(r)
			inv := g.inventory(r.Intn(20))
			pol := g.policy(1 + r.Intn(10))
			rs, _, err := Check("gen.hujson", []byte(pol.text()), Options{ExternalGroups: inv.ExternalGroups()})
			if err != nil {
				t.Fatalf("generated policy is invalid: %v", err)
			}
			c, err := Compile(rs, inv)
			if err != nil {
				t.Fatal(err)
			}
			byKey := map[string][]string{}
			for name, res := range c.All() {
				key, err := c.PeerClass(name)
				if err != nil {
					t.Fatal(err)
				}
				cp, err := c.ClassPeers(name)
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.DeleteFunc(slices.Clone(cp), func(s string) bool { return s == name }); !slices.Equal(got, res.Peers) {
					t.Fatalf("%s: class peers less itself %v, Result's peers %v\npolicy:\n%s", name, got, res.Peers, pol.text())
				}
				if prev, ok := byKey[key]; ok {
					shared++
					if !slices.Equal(prev, cp) {
						t.Fatalf("%s: class peers %v, another node of its class %v\npolicy:\n%s", name, cp, prev, pol.text())
					}
				}
				byKey[key] = cp
			}
			if _, err := c.PeerClass("no-such-node"); err == nil {
				t.Error("PeerClass of an unknown node: no error")
			}
		})
	}
	if shared == 0 {
		t.Error("no two nodes shared a class: the test checks nothing")
	}
}

// TestPeerClassTable names, per policy, which nodes of testFleet share a
// peer class and which do not.
func TestPeerClassTable(t *testing.T) {
	fleet := testFleet
	fleet.Nodes = append(slices.Clone(fleet.Nodes),
		testNode("cam2", "100.64.1.2", "fd7a:115c:a1e0::102", "", "tag:camera"),
		testNode("gw2", "100.64.2.2", "fd7a:115c:a1e0::202", "", "tag:gateway"))
	tests := []struct {
		name   string
		acls   string
		same   [][2]string
		differ [][2]string
		// self names nodes among their class's own peers.
		self []string
	}{
		{
			name:   "cameras reach gateways",
			acls:   `{"action": "accept", "src": ["tag:camera"], "dst": ["tag:gateway:8883"]}`,
			same:   [][2]string{{"cam1", "cam2"}, {"gw1", "gw2"}, {"alice-laptop", "carol-laptop"}},
			differ: [][2]string{{"cam1", "gw1"}},
		},
		{
			name:   "gateways reach each other",
			acls:   `{"action": "accept", "src": ["tag:gateway"], "dst": ["tag:gateway:8883"]}`,
			same:   [][2]string{{"gw1", "gw2"}},
			differ: [][2]string{{"gw1", "cam1"}},
			self:   []string{"gw1", "gw2"},
		},
		{
			name:   "a group: members in it and out of it",
			acls:   `{"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:22"]}`,
			same:   [][2]string{{"alice-laptop", "alice-phone"}, {"bob-laptop", "carol-laptop"}},
			differ: [][2]string{{"alice-laptop", "bob-laptop"}},
		},
		{
			name:   "autogroup:self: the owner is in the key",
			acls:   `{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}`,
			same:   [][2]string{{"alice-laptop", "alice-phone"}},
			differ: [][2]string{{"alice-laptop", "bob-laptop"}, {"bob-laptop", "carol-laptop"}},
			self:   []string{"alice-laptop"},
		},
		{
			name:   "a literal source: in it or not",
			acls:   `{"action": "accept", "src": ["100.64.1.1/32"], "dst": ["tag:gateway:8883"]}`,
			differ: [][2]string{{"cam1", "cam2"}},
			same:   [][2]string{{"gw1", "gw2"}},
		},
		{
			name: "a deny makes no peers",
			acls: `{"action": "accept", "src": ["tag:camera"], "dst": ["tag:gateway:8883"]}, {"action": "deny", "src": ["100.64.1.1/32"], "dst": ["tag:gateway:8883"]}`,
			same: [][2]string{{"cam1", "cam2"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, testPolicyHead+`"acls": [`+tc.acls+`]}`, fleet)
			key := func(n string) string {
				k, err := c.PeerClass(n)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			for _, p := range tc.same {
				if key(p[0]) != key(p[1]) {
					t.Errorf("%s and %s: different classes, want one", p[0], p[1])
				}
			}
			for _, p := range tc.differ {
				if key(p[0]) == key(p[1]) {
					t.Errorf("%s and %s: one class, want two", p[0], p[1])
				}
			}
			for _, n := range tc.self {
				if cp, _ := c.ClassPeers(n); !slices.Contains(cp, n) {
					t.Errorf("%s: class peers %v lack it", n, cp)
				}
				if p, _ := c.Peers(n); slices.Contains(p, n) {
					t.Errorf("%s: among its own peers", n)
				}
			}
		})
	}
}
