package coordinator

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestSentPeersMatchesMap runs random additions, changes and removals (and
// whole rebuilds and clones) on a sentPeers and on a map, and compares
// them after each step.
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
				s = b.done()
			default:
				s = s.clone()
			}
			if s.len() != len(want) {
				t.Fatalf("size %d step %d: %d peers, want %d", size, step, s.len(), len(want))
			}
			if step%97 == 0 {
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

func hasKey(m map[wire.NodeID]sentPeer, id wire.NodeID) bool {
	_, ok := m[id]
	return ok
}
