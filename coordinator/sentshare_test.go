package coordinator

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/wardnet/ward/wire"
)

// TestSharedSentPeersCopiedOnChange checks that a shared set (a view
// class's, held by every node of the class) is never changed through one
// of its holders: a change copies it first, and a change that changes
// nothing keeps it shared.
func TestSharedSentPeersCopiedOnChange(t *testing.T) {
	b := newSentPeersBuilder(3)
	for id := wire.NodeID(1); id <= 3; id++ {
		b.add(id, sentPeer{ver: uint64(id)})
	}
	class := b.done()
	class.share()
	a, c := class, class // two holders
	a.set(2, sentPeer{ver: 2})
	if a.shared == 0 {
		t.Error("a set that changes nothing made the holder's own copy")
	}
	a.set(2, sentPeer{ver: 9})
	if a.shared != 0 {
		t.Error("a changed set is still marked shared")
	}
	if p, _ := c.get(2); p.ver != 2 {
		t.Errorf("another holder's peer 2 has version %d after one holder's change, want 2", p.ver)
	}
	if p, _ := class.get(2); p.ver != 2 {
		t.Errorf("the class's peer 2 has version %d, want 2", p.ver)
	}
	if !c.remove(3) || c.shared != 0 || !class.has(3) {
		t.Error("a removal through one holder changed the shared set")
	}
	if c.remove(7) {
		t.Error("removed a peer not held")
	}
	r := class.clone()
	if r.shared != class.shared || &r.sorted[0] != &class.sorted[0] {
		t.Error("a resumed stream's clone of a shared set copied it")
	}
	r.set(4, sentPeer{ver: 4})
	if class.has(4) || class.len() != 3 {
		t.Error("an addition through a clone changed the shared set")
	}
}

// TestSentPeersHoldersOfOneBase runs random changes on several holders of
// one shared set (each its own stream) and checks each against a map of
// its own after every step: a change through one holder, over the shared
// base slice or a merged (interned) one, never shows in another. Holders
// that make the same changes end up holding one interned slice.
func TestSentPeersHoldersOfOneBase(t *testing.T) {
	for _, lined := range []bool{false, true} {
		t.Run(fmt.Sprintf("lineage=%v", lined), func(t *testing.T) { checkHoldersOfOneBase(t, lined) })
	}
}

func checkHoldersOfOneBase(t *testing.T, lined bool) {
	rng := rand.New(rand.NewPCG(3, 11))
	const size, holders = 400, 4
	b := newSentPeersBuilder(size)
	base := map[wire.NodeID]sentPeer{}
	for id := wire.NodeID(0); id < size; id += 2 {
		p := sentPeer{ver: uint64(id)}
		b.add(id, p)
		base[id] = p
	}
	class := b.done()
	class.share()
	if lined {
		class.line = &lineage{}
		class.line.put(class.sorted)
	}
	hs := make([]sentPeers, holders)
	want := make([]map[wire.NodeID]sentPeer, holders)
	for i := range hs {
		hs[i], want[i] = class, maps.Clone(base)
	}
	check := func(step int) {
		t.Helper()
		for i := range hs {
			if hs[i].len() != len(want[i]) {
				t.Fatalf("step %d: holder %d has %d peers, want %d", step, i, hs[i].len(), len(want[i]))
			}
			for id := wire.NodeID(0); id < size; id++ {
				got, ok := hs[i].get(id)
				w, wok := want[i][id]
				if ok != wok || got != w {
					t.Fatalf("step %d: holder %d get(%d) = %v %v, want %v %v", step, i, id, got, ok, w, wok)
				}
			}
			all := hs[i].all()
			if len(all) != len(want[i]) || !slices.IsSortedFunc(all, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) }) {
				t.Fatalf("step %d: holder %d all() has %d entries (sorted %v), want %d", step, i, len(all), slices.IsSortedFunc(all, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) }), len(want[i]))
			}
		}
	}
	for step := range 3000 {
		i := rng.IntN(holders)
		id := wire.NodeID(rng.IntN(size))
		switch op := rng.IntN(10); {
		case op < 5:
			p := sentPeer{ver: uint64(rng.IntN(3))}
			hs[i].set(id, p)
			want[i][id] = p
		case op < 9:
			_, held := want[i][id]
			if got := hs[i].remove(id); got != held {
				t.Fatalf("step %d: holder %d remove(%d) = %v, want %v", step, i, id, got, held)
			}
			delete(want[i], id)
		default:
			hs[i] = hs[i].clone()
		}
		check(step)
	}
	if len(class.all()) != len(base) {
		t.Fatal("the shared set changed")
	}

	// Two holders making the same changes hold one slice once merged
	// (interned: without a lineage, whose latest the holders above moved).
	class.line = nil
	x, y := class, class
	for id := wire.NodeID(1); id < 2*minMerge+1; id += 2 {
		x.set(id, sentPeer{ver: 1})
		y.set(id, sentPeer{ver: 1})
	}
	if len(x.added) != 0 || len(y.added) != 0 {
		t.Fatalf("not merged after %d additions", minMerge)
	}
	if &x.sorted[0] != &y.sorted[0] {
		t.Error("two holders with the same peers hold two slices after their merge")
	}
}

// TestSentPeersLineageSharesBase holds many nodes of one view class (the
// gateways of a fleet) to one base: each gets the same joins, but in its
// own order and batches (a message's peers come in a map's order, and
// messages coalesce differently per stream) and at its own pace, so each
// merges at its own moment. With the class's lineage their merges rebase
// on the latest, and they end up on one or two bases with a few entries
// of their own each; without it (each merging its own slice, interned by
// content) on about one base each. Every holder is checked against the peers it was given.
func TestSentPeersLineageSharesBase(t *testing.T) {
	const first, joins, holders = 512, 4000, 24
	rng := rand.New(rand.NewPCG(5, 7))
	class := lineageClass(first)

	hs := make([]sentPeers, holders)
	done := make([]int, holders) // joins applied
	for i := range hs {
		hs[i] = class
	}
	// A join at a time; each holder takes, now and then, everything
	// pending (a stream's message), in its own order.
	for joined := 1; slices.Min(done) < joins; joined = min(joined+1, joins) {
		for i := range hs {
			if done[i] == joined || rng.IntN(3) != 0 {
				continue // nothing pending, or this stream's message comes later
			}
			batch := make([]wire.NodeID, joined-done[i])
			for k := range batch {
				batch[k] = wire.NodeID(first + 1 + done[i] + k)
			}
			rng.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
			for _, id := range batch {
				hs[i].set(id, sentPeer{ver: uint64(id)})
			}
			done[i] = joined
		}
	}
	bases := map[*sentEntry]bool{}
	own := 0
	for i := range hs {
		if hs[i].len() != first+joins {
			t.Fatalf("holder %d holds %d peers, want %d", i, hs[i].len(), first+joins)
		}
		for id := wire.NodeID(1); id <= first+joins; id++ {
			if p, ok := hs[i].get(id); !ok || p.ver != uint64(id) {
				t.Fatalf("holder %d: peer %d is %v %v", i, id, p, ok)
			}
		}
		bases[&hs[i].sorted[0]] = true
		own += len(hs[i].added) + len(hs[i].changed) + len(hs[i].removed)
	}
	t.Logf("%d holders on %d bases, %d entries of their own in all", holders, len(bases), own)
	if len(bases) > 2 {
		t.Errorf("%d holders of one class's peers hold %d bases, want at most 2", holders, len(bases))
	}
	if limit := holders * mergeDue(first+joins, true); own > limit {
		t.Errorf("the holders keep %d entries of their own, want at most %d", own, limit)
	}
}

// TestSentPeersRebase checks rebase on random sets: a holder (a base with
// its own additions, changes and removals) rebased on another base holds
// exactly what it held before, and refuses when they differ in more
// entries than the limit.
func TestSentPeersRebase(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	randSet := func(from map[wire.NodeID]sentPeer, changes int) map[wire.NodeID]sentPeer {
		out := maps.Clone(from)
		if out == nil {
			out = map[wire.NodeID]sentPeer{}
		}
		for range changes {
			id := wire.NodeID(rng.IntN(300))
			switch rng.IntN(3) {
			case 0:
				delete(out, id)
			default:
				out[id] = sentPeer{ver: uint64(rng.IntN(3)), grants: uint32(rng.IntN(2))}
			}
		}
		return out
	}
	baseOf := func(m map[wire.NodeID]sentPeer) []sentEntry {
		b := newSentPeersBuilder(len(m))
		for id, p := range m {
			b.add(id, p)
		}
		return b.done().sorted
	}
	for c := range 500 {
		start := randSet(nil, 200)
		var h sentPeers
		h.sorted, h.base = baseOf(start), true
		want := randSet(start, rng.IntN(40))
		for id := range start {
			if _, ok := want[id]; !ok {
				h.remove(id)
			}
		}
		for id, p := range want {
			h.set(id, p)
		}
		target := baseOf(randSet(want, rng.IntN(40)))
		diff := 0
		for id, p := range want {
			if i, ok := slices.BinarySearchFunc(target, id, func(e sentEntry, id wire.NodeID) int { return cmp.Compare(e.id, id) }); !ok || target[i].sentPeer != p {
				diff++
			}
		}
		for _, e := range target {
			if _, ok := want[e.id]; !ok {
				diff++
			}
		}
		if diff > 0 && h.rebase(target, diff-1) {
			t.Fatalf("case %d: rebased with %d entries apart, limit %d", c, diff, diff-1)
		}
		if !h.rebase(target, diff) {
			t.Fatalf("case %d: no rebase with %d entries apart, limit %d", c, diff, diff)
		}
		if len(h.sorted) > 0 && &h.sorted[0] != &target[0] {
			t.Fatalf("case %d: the base is not the target", c)
		}
		if got := len(h.added) + len(h.changed) + len(h.removed); got != diff {
			t.Fatalf("case %d: %d entries of its own, want %d", c, got, diff)
		}
		if h.len() != len(want) || len(h.all()) != len(want) {
			t.Fatalf("case %d: holds %d peers (all: %d), want %d", c, h.len(), len(h.all()), len(want))
		}
		for id := range wire.NodeID(300) {
			got, ok := h.get(id)
			w, wok := want[id]
			if ok != wok || got != w {
				t.Fatalf("case %d: get(%d) = %v %v, want %v %v", c, id, got, ok, w, wok)
			}
		}
	}
}

// TestSentStateSmall holds what every stream keeps of what it sent to a
// few words besides its peer set: a stream kept its node's whole record
// (wire.Node, about 450 bytes) to compare the next one with, 25 MB at
// 50,000 streams; it keeps a sum of it now.
func TestSentStateSmall(t *testing.T) {
	if size := unsafe.Sizeof(sentState{}); size > 192 {
		t.Errorf("sentState is %d bytes, want at most 192", size)
	}
}

// TestSentPeersLaggardRebasesLater has one holder of a class lag far
// behind the others (a paced stream) and then catch up: it puts its
// merges off while too far from the lineage's latest base, and ends on
// the others' base rather than on a slice of its own.
func TestSentPeersLaggardRebasesLater(t *testing.T) {
	const first, joins = 2048, 600
	class := lineageClass(first)
	lead, lag := class, class
	join := func(h *sentPeers, from, to int) {
		for id := from; id < to; id++ {
			h.set(wire.NodeID(first+1+id), sentPeer{ver: 1})
		}
	}
	// The leader takes every join as it comes, merging about every 64.
	join(&lead, 0, joins)
	// The laggard gets a quarter in one message, far behind the
	// leader's latest base: it keeps them beside the class's base rather
	// than merging a slice of its own (a gateway's is 880 KB at 50,000
	// nodes), then the rest.
	join(&lag, 0, joins/4)
	if &lag.sorted[0] != &class.sorted[0] || lag.len() != first+joins/4 {
		t.Errorf("a laggard %d joins behind merged a slice of its own", joins-joins/4)
	}
	join(&lag, joins/4, joins)
	if lag.len() != first+joins || lead.len() != first+joins {
		t.Fatalf("holders hold %d and %d peers, want %d", lead.len(), lag.len(), first+joins)
	}
	for id := wire.NodeID(1); id <= first+joins; id++ {
		if !lag.has(id) {
			t.Fatalf("the laggard lacks peer %d", id)
		}
	}
	if &lag.sorted[0] != &lead.sorted[0] {
		t.Errorf("the laggard holds a base of its own (%d entries), not the leader's (%d)", len(lag.sorted), len(lead.sorted))
	}
}

// lineageClass is a view class's shared set of peers 1..n (each at
// version id), the first base of its lineage.
func lineageClass(n int) sentPeers {
	b := newSentPeersBuilder(n)
	for id := wire.NodeID(1); id <= wire.NodeID(n); id++ {
		b.add(id, sentPeer{ver: uint64(id)})
	}
	class := b.done()
	class.share()
	class.line = &lineage{}
	class.line.put(class.sorted)
	return class
}
