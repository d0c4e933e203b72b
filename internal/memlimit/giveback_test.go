package memlimit

import "testing"

// TestBurstGivesBackOnceAfterALoad: memory is given back in the first
// quiet interval after a busy one, once enough was allocated since the
// last give-back; never on a trickle, however long it runs.
func TestBurstGivesBackOnceAfterALoad(t *testing.T) {
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
			b := newBurst(n)
			var got []int
			for i, d := range tc.per {
				n += d
				if b.tick(n) {
					got = append(got, i)
					b.given(n, tc.live)
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
	held, released := giveBack()
	if released < 32<<20 {
		t.Errorf("returned %d MB of the 64 MB freed (held %d MB before)", released>>20, held>>20)
	}
}

// sink holds what TestGiveBackReturnsFreedHeap allocates, on the heap.
var sink [][]byte
