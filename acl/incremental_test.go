package acl

import (
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIncrementalMatchesFullCompile is a property test: for random fleets
// and policies (seeded, so deterministic), after every random AddNode,
// RemoveNode or UpdateNode, (a) every node's Result equals the Result of a
// fresh full Compile of the same inventory, and (b) the returned list names
// every node whose Result changed.
func TestIncrementalMatchesFullCompile(t *testing.T) {
	seeds, steps := 300, 80
	if testing.Short() {
		seeds = 10
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkIncremental(t, seed, steps) })
	}
}

func checkIncremental(t *testing.T, seed int64, steps int) {
	r := rand.New(rand.NewSource(seed))
	g := newFleetGen(r)
	inv := g.inventory(r.Intn(16))
	pol := g.policy(1 + r.Intn(10))
	rs, _, err := Check("gen.hujson", []byte(pol.text()), Options{ExternalGroups: inv.ExternalGroups()})
	if err != nil {
		t.Fatalf("generated policy is invalid: %v\n%s", err, pol.text())
	}
	inc, err := Compile(rs, inv)
	if err != nil {
		t.Fatal(err)
	}
	prev := inc.All()
	for step := range steps {
		op := randomOp(r, g, &inv)
		changed, err := op.apply(inc)
		if (err != nil) != op.fails {
			t.Fatalf("step %d: %s: error %v, want failure %v", step, op, err, op.fails)
		}
		full, err := Compile(rs, inv)
		if err != nil {
			t.Fatalf("step %d: full compile: %v", step, err)
		}
		got, want := inc.All(), full.All()
		if !resultsEqual(want, got) {
			diff := cmp.Diff(want, got, equateNetip)
			t.Fatalf("step %d: %s: incremental result differs from a full compile (-full +incremental):\n%s\npolicy:\n%s",
				step, op, diff, pol.text())
		}
		for name, res := range got {
			if old, ok := prev[name]; (!ok || !resultEqual(old, res)) && !slices.Contains(changed, name) {
				t.Fatalf("step %d: %s: %s changed but is not in the changed list %v\nbefore: %+v\nafter:  %+v\npolicy:\n%s",
					step, op, name, changed, old, res, pol.text())
			}
		}
		if !slices.IsSorted(changed) {
			t.Errorf("step %d: %s: changed list %v is not sorted", step, op, changed)
		}
		prev = got
	}
}

// nodeOp is one random change to a compiled fleet, already applied to the
// inventory it mirrors (unless it must fail).
type nodeOp struct {
	kind  string // add, remove, update
	node  Node
	fails bool
}

func (op nodeOp) String() string {
	return fmt.Sprintf("%s %s (v4 %v v6 %v user %q tags %v routes %v)", op.kind, op.node.Name, op.node.IPv4, op.node.IPv6, op.node.User, op.node.Tags, op.node.Routes)
}

func (op nodeOp) apply(c *Compiled) ([]string, error) {
	switch op.kind {
	case "add":
		return c.AddNode(op.node)
	case "remove":
		return c.RemoveNode(op.node.Name)
	}
	return c.UpdateNode(op.node)
}

func randomOp(r *rand.Rand, g *fleetGen, inv *Inventory) nodeOp {
	k := r.Intn(10)
	if len(inv.Nodes) == 0 {
		k = 0
	}
	switch {
	case k < 4:
		n := g.node(g.newName())
		if r.Intn(20) == 0 && len(inv.Nodes) > 0 {
			n.Name = pick(r, inv.Nodes).Name // duplicate: refused
			return nodeOp{kind: "add", node: n, fails: true}
		}
		inv.Nodes = append(inv.Nodes, n)
		return nodeOp{kind: "add", node: n}
	case k < 7:
		i := r.Intn(len(inv.Nodes))
		n := inv.Nodes[i]
		inv.Nodes = slices.Delete(inv.Nodes, i, i+1)
		return nodeOp{kind: "remove", node: n}
	}
	i := r.Intn(len(inv.Nodes))
	n := g.node(inv.Nodes[i].Name)
	if r.Intn(15) == 0 {
		n.IPv4 = netip.MustParseAddr("fd00::1") // wrong family: refused, node kept
		return nodeOp{kind: "update", node: n, fails: true}
	}
	inv.Nodes[i] = n
	return nodeOp{kind: "update", node: n}
}

// TestIncrementalChangedLists pins the changed lists of a few hand-checked
// updates on testFleet.
func TestIncrementalChangedLists(t *testing.T) {
	policy := testPolicyHead + `"acls": [
    {"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:80"]},
    {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]},
    {"action": "accept", "src": ["tag:gateway"], "dst": ["lan:*"]},
  ]}`
	c := mustCompile(t, policy, testFleet)
	steps := []struct {
		op   nodeOp
		want []string
	}{
		// A second camera: alice's nodes see it; it sees them.
		{nodeOp{kind: "add", node: testNode("cam2", "100.64.1.2", "", "", "tag:camera")}, []string{"alice-laptop", "alice-phone", "cam2"}},
		// A third node of alice: her nodes (autogroup:self) and the cameras.
		{nodeOp{kind: "add", node: testNode("alice-pi", "100.64.0.9", "", "alice@example.com")}, []string{"alice-laptop", "alice-phone", "alice-pi", "cam1", "cam2"}},
		// A node nothing refers to: only itself (always listed).
		{nodeOp{kind: "add", node: testNode("sensor", "100.64.4.1", "", "", "tag:sensor")}, []string{"sensor"}},
		// The gateway goes: the router loses its only peer.
		{nodeOp{kind: "remove", node: Node{Name: "gw1"}}, []string{"router"}},
		// cam2 becomes a gateway: alice's nodes lose it, the router gains it.
		{nodeOp{kind: "update", node: testNode("cam2", "100.64.1.2", "", "", "tag:gateway")}, []string{"alice-laptop", "alice-phone", "alice-pi", "cam2", "router"}},
	}
	for _, s := range steps {
		got, err := s.op.apply(c)
		if err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: changed (-want +got):\n%s", s.op, diff)
		}
	}
	if _, err := c.UpdateNode(testNode("cam2", "fd00::1", "", "", "tag:gateway")); !errors.Is(err, ErrBadNode) {
		t.Errorf("UpdateNode with a bad address = %v, want ErrBadNode", err)
	}
	if n, ok := c.Node("cam2"); !ok || n.Tags[0] != "tag:gateway" {
		t.Errorf("after a refused update, cam2 = %+v, %v; want the previous node", n, ok)
	}
}
