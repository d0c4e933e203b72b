package acl

import (
	"cmp"
	"math/bits"
	"slices"
)

// nameOrder keeps the nodes sorted by name, so that lists of names (a
// node's peers, the nodes a change touched) come out of a node set already
// sorted, without comparing strings. Compiled owns it and updates it as
// nodes come and go.
type nameOrder struct {
	// sorted lists node indexes by name, and names their names.
	sorted []int32
	names  []string
	// rank[idx] is idx's position in sorted; -1 for a free slot.
	rank []int32
	// identity is set while sorted[i] == i for every i (no free slot), as
	// after a full compile, which inserts nodes in name order.
	identity bool
}

// build orders every node of nodes (nil entries are free slots).
func (o *nameOrder) build(nodes []*nodeState) {
	o.sorted = o.sorted[:0]
	o.rank = slices.Grow(o.rank[:0], len(nodes))[:len(nodes)]
	for i, n := range nodes {
		o.rank[i] = -1
		if n != nil {
			o.sorted = append(o.sorted, int32(i))
		}
	}
	slices.SortFunc(o.sorted, func(a, b int32) int { return cmp.Compare(nodes[a].Name, nodes[b].Name) })
	o.names = o.names[:0]
	for _, i := range o.sorted {
		o.names = append(o.names, nodes[i].Name)
	}
	o.renumber(0)
	o.identity = len(o.sorted) == len(nodes)
	for r, i := range o.sorted {
		o.identity = o.identity && int32(r) == i
	}
}

// insert places node idx, already in nodes, in order.
func (o *nameOrder) insert(nodes []*nodeState, idx int32) {
	name := nodes[idx].Name
	pos, _ := slices.BinarySearch(o.names, name)
	o.sorted = slices.Insert(o.sorted, pos, idx)
	o.names = slices.Insert(o.names, pos, name)
	for len(o.rank) < len(nodes) {
		o.rank = append(o.rank, -1)
	}
	o.renumber(pos)
	o.identity = o.identity && int(idx) == pos && pos == len(nodes)-1
}

// remove takes node idx out of the order.
func (o *nameOrder) remove(idx int32) {
	pos := int(o.rank[idx])
	o.sorted = slices.Delete(o.sorted, pos, pos+1)
	o.names = slices.Delete(o.names, pos, pos+1)
	o.rank[idx] = -1
	o.renumber(pos)
	o.identity = false
}

func (o *nameOrder) renumber(from int) {
	for r := from; r < len(o.sorted); r++ {
		o.rank[o.sorted[r]] = int32(r)
	}
}

// namesOf returns the names of the nodes in set, sorted; indexes of free
// slots are left out.
func (o *nameOrder) namesOf(set bitset) []string {
	if o.identity {
		out := make([]string, 0, set.count())
		set.each(func(i int32) {
			if int(i) < len(o.names) {
				out = append(out, o.names[i])
			}
		})
		return out
	}
	// Move the set from index space to name order: a bitset over ranks,
	// then one walk over it. (Plain loops: this is the hot part of
	// computing peers.)
	byRank := make(bitset, (len(o.sorted)+63)/64)
	k := 0
	for wi, w := range set {
		for w != 0 {
			i := wi<<6 + bits.TrailingZeros64(w)
			w &= w - 1
			if i < len(o.rank) && o.rank[i] >= 0 {
				r := o.rank[i]
				byRank[r>>6] |= 1 << (uint(r) & 63)
				k++
			}
		}
	}
	out := make([]string, k)
	k = 0
	for wi, w := range byRank {
		for w != 0 {
			out[k] = o.names[wi<<6+bits.TrailingZeros64(w)]
			k++
			w &= w - 1
		}
	}
	return out
}
