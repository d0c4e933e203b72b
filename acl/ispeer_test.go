package acl

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// TestIsPeerMatchesResult checks IsPeer against Result's peer lists for
// every pair of nodes of random fleets and policies, autogroup:self and
// literal sources included.
func TestIsPeerMatchesResult(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			g := newFleetGen(r)
			inv := g.inventory(r.Intn(16))
			pol := g.policy(1 + r.Intn(10))
			rs, _, err := Check("gen.hujson", []byte(pol.text()), Options{ExternalGroups: inv.ExternalGroups()})
			if err != nil {
				t.Fatalf("generated policy is invalid: %v", err)
			}
			c, err := Compile(rs, inv)
			if err != nil {
				t.Fatal(err)
			}
			for a, res := range c.All() {
				for _, b := range c.NodeNames() {
					got, err := c.IsPeer(a, b)
					if err != nil {
						t.Fatal(err)
					}
					if want := slices.Contains(res.Peers, b); got != want {
						t.Fatalf("IsPeer(%s, %s) = %v, Result says %v\npolicy:\n%s", a, b, got, want, pol.text())
					}
				}
			}
			if _, err := c.IsPeer("no-such-node", "x"); err == nil {
				t.Error("IsPeer of an unknown node: no error")
			}
		})
	}
}
