package giveback

import (
	"fmt"
	"testing"
)

// TestCoordinatorGivesBackOnceAfterALoad: under the coordinator's policy
// memory is given back in the first quiet interval after a busy one, once
// enough was allocated since the last give-back; never on a trickle,
// however long it runs.
func TestCoordinatorGivesBackOnceAfterALoad(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name string
		// per is what each interval allocated; want the intervals (by
		// index) that give memory back.
		per []uint64
		// live is the live heap after each give-back (0: small).
		live uint64
		want []int
	}{
		{name: "trickle", per: repeat(8*mb, 200)},
		{name: "burst, then quiet", per: []uint64{100 * mb, 200 * mb, 1 * mb, 1 * mb, 1 * mb}, want: []int{2}},
		{name: "busy but small", per: []uint64{40 * mb, 1 * mb, 1 * mb}},
		{name: "small busy intervals add up", per: []uint64{100 * mb, 1 * mb, 100 * mb, 1 * mb, 100 * mb, 1 * mb, 1 * mb}, want: []int{5}},
		{name: "a trickle after the give-back does not repeat it", per: append([]uint64{300 * mb, 0}, repeat(31*mb, 100)...), want: []int{1}},
		{name: "two bursts", per: []uint64{300 * mb, 0, 0, 300 * mb, 300 * mb, 2 * mb}, want: []int{1, 5}},
		{name: "a load that comes and goes: no more often than the live heap is allocated", live: 1000 * mb,
			per: []uint64{300 * mb, 1 * mb, 300 * mb, 1 * mb, 300 * mb, 1 * mb, 300 * mb, 1 * mb, 300 * mb, 1 * mb}, want: []int{1, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n uint64 = 12345
			g := NewGovernor(Coordinator, Counters{Allocs: n})
			var got []int
			for i, d := range tc.per {
				n += d
				if g.Tick(Counters{Allocs: n}) {
					got = append(got, i)
					g.Given(Counters{Allocs: n, Live: tc.live})
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("gave back at intervals %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("gave back at intervals %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestDeviceGivesBackAfterLoadOrGrowth: under the device's policy a quiet
// interval gives memory back once 32 MiB were allocated since the last
// time, even as a trickle, or when the runtime retains 8 MiB more than
// the last give-back left; a busy interval never does.
func TestDeviceGivesBackAfterLoadOrGrowth(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name string
		// per is what each interval allocated, retained what the runtime
		// held at its end (0: as at the start); want the intervals that
		// give memory back.
		per, retained []uint64
		want          []int
	}{
		{name: "idle", per: repeat(mb/2, 60)},
		{name: "a load, then quiet", per: []uint64{40 * mb, 1 * mb, 1 * mb}, want: []int{1}},
		{name: "busy throughout", per: repeat(10*mb, 20)},
		{name: "a trickle adds up", per: repeat(3*mb, 12), want: []int{10}},
		{name: "retained grows without allocation", per: []uint64{0, 0, 0}, retained: []uint64{20 * mb, 24 * mb, 29 * mb}, want: []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := uint64(777)
			const base = 20 * mb
			g := NewGovernor(Device, Counters{Allocs: n, Retained: base})
			var got []int
			for i, d := range tc.per {
				n += d
				r := uint64(base)
				if i < len(tc.retained) {
					r = tc.retained[i]
				}
				if g.Tick(Counters{Allocs: n, Retained: r}) {
					got = append(got, i)
					g.Given(Counters{Allocs: n, Retained: r})
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("gave back at intervals %v, want %v", got, tc.want)
			}
		})
	}
}

func repeat(v uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestGiveBackReturnsFreedHeap: the pages of a heap that was live and is
// no longer go back to the operating system.
func TestGiveBackReturnsFreedHeap(t *testing.T) {
	sink = make([][]byte, 64)
	for i := range sink {
		sink[i] = make([]byte, 1<<20)
		sink[i][0] = 1
	}
	sink = nil
	held, released := Release()
	if released < 32<<20 {
		t.Errorf("returned %d MB of the 64 MB freed (held %d MB before)", released>>20, held>>20)
	}
}

// sink holds what TestGiveBackReturnsFreedHeap allocates, on the heap.
var sink [][]byte
