package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestPeerSetMatchesMap: random adds, removes and resets, ids inside and
// outside the bitmap's range, give the set a Go map would hold.
func TestPeerSetMatchesMap(t *testing.T) {
	ids := []wire.NodeID{0, 1, 63, 64, 65, 1000, 50_000, maxBitID - 1, maxBitID, maxBitID + 7, -1, 1 << 40}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var s peerSet
		want := map[wire.NodeID]bool{}
		for step := range 2000 {
			var id wire.NodeID
			if rng.IntN(4) == 0 {
				id = ids[rng.IntN(len(ids))]
			} else {
				id = wire.NodeID(rng.IntN(5000))
			}
			switch op := rng.IntN(100); {
			case op < 60:
				s.add(id)
				want[id] = true
			case op < 99:
				s.remove(id)
				delete(want, id)
			default:
				s.reset()
				clear(want)
			}
			if s.len() != len(want) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, s.len(), len(want))
			}
			for _, probe := range append(ids, id, id+1, id-1) {
				if s.has(probe) != want[probe] {
					t.Fatalf("seed %d step %d: has(%d) = %v, want %v", seed, step, probe, s.has(probe), want[probe])
				}
			}
		}
	}
}
