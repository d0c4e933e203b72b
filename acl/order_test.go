package acl

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNameOrder(t *testing.T) {
	nodes := []*nodeState{{Node: Node{Name: "a"}}, {Node: Node{Name: "b"}}, {Node: Node{Name: "c"}}}
	var o nameOrder
	o.build(nodes)
	if !o.identity {
		t.Error("nodes already in name order: want the identity order")
	}
	set := func(idx ...int32) bitset {
		var b bitset
		for _, i := range idx {
			b.set(i)
		}
		return b
	}
	check := func(what string, b bitset, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, o.namesOf(b)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("identity", set(2, 0), []string{"a", "c"})

	nodes = append(nodes, &nodeState{Node: Node{Name: "d"}}) // sorts last: still identity
	o.insert(nodes, 3)
	if !o.identity {
		t.Error("a node that sorts last keeps the identity order")
	}
	nodes = append(nodes, &nodeState{Node: Node{Name: "aa"}})
	o.insert(nodes, 4)
	if o.identity {
		t.Error("a node inserted in the middle must end the identity order")
	}
	check("after insert", set(4, 3, 1, 0), []string{"a", "aa", "b", "d"})
	o.remove(1)
	nodes[1] = nil
	check("after remove", set(0, 1, 2, 3, 4), []string{"a", "aa", "c", "d"})
	check("empty", nil, []string{})

	nodes = []*nodeState{{Node: Node{Name: "z"}}, nil, {Node: Node{Name: "m"}}}
	o.build(nodes)
	if o.identity {
		t.Error("out of order, with a free slot: not the identity order")
	}
	check("build out of order", set(0, 1, 2), []string{"m", "z"})
}
