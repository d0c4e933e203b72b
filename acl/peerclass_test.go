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
