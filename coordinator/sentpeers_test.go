package coordinator

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// TestSentPeersMatchesMap runs random additions, changes and removals (and
// whole rebuilds and clones) on a sentPeers and on a map, and compares
// them after each step; the content key (sentPeers.key) must follow
// every change, whatever form the set takes (a base with maps beside
// it, merged, shared, cloned, rebuilt).
func TestSentPeersMatchesMap(t *testing.T) {
	for _, size := range []int{10, 300, 5000} {
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		var s sentPeers
		want := map[wire.NodeID]sentPeer{}
		for step := range 20000 {
			id := wire.NodeID(rng.IntN(size))
			p := sentPeer{ver: rng.Uint64(), grants: rng.Uint32(), routes: rng.Uint32()}
			switch op := rng.IntN(100); {
			case op < 60:
				s.set(id, p)
				want[id] = p
			case op < 90:
				_, held := want[id]
				if got := s.remove(id); got != held {
					t.Fatalf("size %d step %d: remove(%d) = %v, want %v", size, step, id, got, held)
				}
				delete(want, id)
			case op < 95:
				b := newSentPeersBuilder(len(want))
				for id, p := range want {
					b.add(id, p)
					if rng.IntN(10) == 0 {
						b.add(id, p) // twice counts once
					}
				}
				made := b.done()
				if made.key() != s.key() {
					t.Fatalf("size %d step %d: the same entries made whole have key %v, held %v", size, step, made.key(), s.key())
				}
				s = made
			case op < 97:
				s.share()
			case op < 98:
				// Many at once (removeAll's pass) or a few (one by one),
				// some not held.
				var ids []wire.NodeID
				for range rng.IntN(size / 2) {
					ids = append(ids, wire.NodeID(rng.IntN(size)))
				}
				slices.Sort(ids)
				ids = slices.Compact(ids)
				var wantGone []wire.NodeID
				for _, id := range ids {
					if hasKey(want, id) {
						wantGone = append(wantGone, id)
						delete(want, id)
					}
				}
				if got := s.removeAll(ids); !slices.Equal(got, wantGone) {
					t.Fatalf("size %d step %d: removeAll(%d ids) = %d gone, want %d", size, step, len(ids), len(got), len(wantGone))
				}
			default:
				s = s.clone()
			}
			if s.len() != len(want) {
				t.Fatalf("size %d step %d: %d peers, want %d", size, step, s.len(), len(want))
			}
			if step%97 == 0 {
				if got, want := s.key(), keyOf(want); got != want {
					t.Fatalf("size %d step %d: key %v, want %v", size, step, got, want)
				}
				var ids []wire.NodeID
				s.ids(func(id wire.NodeID) { ids = append(ids, id) })
				if len(ids) != len(want) {
					t.Fatalf("size %d step %d: ids gives %d, want %d", size, step, len(ids), len(want))
				}
				for _, id := range ids {
					if got, ok := s.get(id); !ok || got != want[id] {
						t.Fatalf("size %d step %d: get(%d) = %v %v, want %v", size, step, id, got, ok, want[id])
					}
				}
			}
			if got, ok := s.get(id); ok != (want[id] != sentPeer{} || hasKey(want, id)) || got != want[id] {
				t.Fatalf("size %d step %d: get(%d) = %v %v, want %v", size, step, id, got, ok, want[id])
			}
			if !slices.IsSortedFunc(s.sorted, func(a, b sentEntry) int { return int(a.id - b.id) }) {
				t.Fatalf("size %d step %d: sorted part out of order", size, step)
			}
		}
	}
}

// keyOf is the content key of the entries of m.
func keyOf(m map[wire.NodeID]sentPeer) heldKey {
	k := heldKey{n: len(m)}
	for id, p := range m {
		k.sum.add(entrySum(id, p))
	}
	return k
}

// TestSetKeyByContent: sets with the same entries have one key, and a
// set that differs in any one entry (its id, version, grants or routes)
// another.
func TestSetKeyByContent(t *testing.T) {
	entries := map[wire.NodeID]sentPeer{}
	for i := range 200 {
		entries[wire.NodeID(i*3+1)] = sentPeer{ver: uint64(i), grants: uint32(i % 7), routes: uint32(i % 3)}
	}
	whole := newSentPeersBuilder(0)
	var oneByOne sentPeers
	for id, p := range entries {
		whole.add(id, p)
	}
	ids := slices.Sorted(maps.Keys(entries))
	for _, id := range slices.Backward(ids) {
		oneByOne.set(id, entries[id])
	}
	a := whole.done()
	if a.key() != oneByOne.key() || a.key() != keyOf(entries) {
		t.Fatalf("same entries, keys %v and %v, want %v", a.key(), oneByOne.key(), keyOf(entries))
	}
	for _, change := range []struct {
		name string
		do   func(s *sentPeers)
	}{
		{"version", func(s *sentPeers) { p, _ := s.get(4); p.ver++; s.set(4, p) }},
		{"grants", func(s *sentPeers) { p, _ := s.get(4); p.grants++; s.set(4, p) }},
		{"routes", func(s *sentPeers) { p, _ := s.get(4); p.routes++; s.set(4, p) }},
		{"removed", func(s *sentPeers) { s.remove(4) }},
		{"added", func(s *sentPeers) { s.set(5, sentPeer{ver: 1}) }},
		{"id", func(s *sentPeers) { p, _ := s.get(4); s.remove(4); s.set(5, p) }},
	} {
		b := a.clone()
		b.share()
		c := b
		change.do(&c)
		if c.key() == a.key() {
			t.Errorf("%s changed: the key stayed %v", change.name, c.key())
		}
		if b.key() != a.key() {
			t.Errorf("%s changed a copy: the shared set's key moved", change.name)
		}
	}
}

func hasKey(m map[wire.NodeID]sentPeer, id wire.NodeID) bool {
	_, ok := m[id]
	return ok
}

// TestCompactHeld: sets of the same entries in different forms (a base
// with joins beside it, merged, rebuilt) become one slice with nothing
// beside it, their content and key unchanged; a set of other entries
// gets a slice of its own; a shared set is left as it is.
func TestCompactHeld(t *testing.T) {
	entries := map[wire.NodeID]sentPeer{}
	for i := range 500 {
		entries[wire.NodeID(i*2+1)] = sentPeer{ver: uint64(i), grants: uint32(i % 5)}
	}
	ids := slices.Sorted(maps.Keys(entries))
	whole := func(skip int) sentPeers {
		b := newSentPeersBuilder(len(ids))
		for i, id := range ids {
			if i != skip {
				b.add(id, entries[id])
			}
		}
		return b.done()
	}
	// a: built whole without the last 40, which then join one by one;
	// b: built whole without the first 40 (a base of its own), which
	// then join; c: every entry at once, then shared; d: other entries.
	a := whole(-1)
	for _, id := range ids[len(ids)-40:] {
		a.remove(id)
	}
	a.share()
	for _, id := range ids[len(ids)-40:] {
		a.set(id, entries[id])
	}
	b := whole(-1)
	for _, id := range ids[:40] {
		b.remove(id)
	}
	b.share()
	for _, id := range ids[:40] {
		b.set(id, entries[id])
	}
	c := whole(-1)
	c.share()
	d := whole(7)
	d.share()
	d.set(9999, sentPeer{ver: 1})
	if len(a.added) == 0 || len(b.added) == 0 {
		t.Fatal("the sets to compact have nothing beside their base: the test sets up nothing")
	}
	h := newHub(time.Now())
	states := map[store.NodeID]*sentState{1: {peers: a}, 2: {peers: b}, 3: {peers: c}, 4: {peers: d}}
	for id, st := range states {
		h.recordSent(id, st)
	}
	keys := map[store.NodeID]heldKey{}
	for id, st := range states {
		keys[id] = st.peers.key()
	}
	if got := h.compactHeld(); got != 3 {
		t.Errorf("compactHeld changed %d sets, want 3 (a, b, d; c is shared)", got)
	}
	for id, st := range states {
		p := &st.peers
		if p.key() != keys[id] {
			t.Errorf("set %d: key %v after compacting, %v before", id, p.key(), keys[id])
		}
		if len(p.added)+len(p.changed)+len(p.removed) > 0 {
			t.Errorf("set %d: %d+%d+%d entries beside its base after compacting", id, len(p.added), len(p.changed), len(p.removed))
		}
		want := entries
		if id == 4 {
			want = maps.Clone(entries)
			delete(want, ids[7])
			want[9999] = sentPeer{ver: 1}
		}
		if got := keyOf(want); p.key() != got {
			t.Errorf("set %d: holds other entries than it did", id)
		}
	}
	sa, sb, sd := states[1].peers.sorted, states[2].peers.sorted, states[4].peers.sorted
	if &sa[0] != &sb[0] {
		t.Error("two sets of the same entries hold two slices after compacting")
	}
	if &sa[0] == &sd[0] {
		t.Error("a set of other entries holds the same slice")
	}
	if states[3].peers.shared == 0 {
		t.Error("the shared set was made a set of its own")
	}
}
