package node

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/wardnet/ward/internal/giveback"
)

// memSink keeps the test's allocations from being optimized away.
var memSink [][]byte

// TestMemoryGivenBackAfterLoad drives the memory governor's decision with
// the runtime's real counters: a load (40 MiB allocated) is not quiet; the
// quiet interval after it gives memory back; a quiet interval after that,
// with nothing new allocated, does not.
func TestMemoryGivenBackAfterLoad(t *testing.T) {
	g := giveback.NewGovernor(giveback.Device, giveback.Read())
	for range 40 {
		memSink = append(memSink, make([]byte, 1<<20))
	}
	memSink = nil
	if g.Tick(giveback.Read()) {
		t.Fatal("memory given back during the load")
	}
	if !g.Tick(giveback.Read()) {
		t.Fatal("memory not given back in the quiet interval after the load")
	}
	giveback.Release()
	g.Given(giveback.Read())
	if g.Tick(giveback.Read()) {
		t.Fatal("memory given back again with no load since")
	}
}

// TestBinaryPagesReleasedOnRegrowth drives the release of the executable's
// pages with a fake reading: the first quiet tick releases, later ticks
// only once the resident file pages grew by binaryRegrowthKB, twice that
// after each such release (up to maxBinaryRegrowthKB), and a failure stops
// all further tries.
func TestBinaryPagesReleasedOnRegrowth(t *testing.T) {
	resident, releases := 0, 0
	var releaseErr error
	b := binaryPages{
		resident: func() (int, error) { return resident, nil },
		release: func() error {
			if releaseErr != nil {
				return releaseErr
			}
			releases++
			resident = 1000
			return nil
		},
	}
	log := slog.New(slog.DiscardHandler)
	steps := []struct {
		resident int
		fail     bool
		want     int // releases after the tick
	}{
		{resident: 16000, want: 1}, // the first tick releases
		{resident: 1000, want: 1},  // nothing grew
		{resident: 1000 + binaryRegrowthKB - 1, want: 1},
		{resident: 1000 + binaryRegrowthKB, want: 2},       // a load touched more
		{resident: 1000 + 2*binaryRegrowthKB - 1, want: 2}, // the bound doubled
		{resident: 1000 + 2*binaryRegrowthKB, want: 3},
		{resident: 1000 + 4*binaryRegrowthKB - 1, want: 3},
		{resident: 1000 + 4*binaryRegrowthKB, want: 4},
		{resident: 1000 + 8*binaryRegrowthKB - 1, want: 4},
		{resident: 1000 + 8*binaryRegrowthKB, want: 5},
		{resident: 1000 + 16*binaryRegrowthKB, want: 6},
		{resident: 1000 + maxBinaryRegrowthKB - 1, want: 6}, // up to its most,
		{resident: 1000 + maxBinaryRegrowthKB, want: 7},
		{resident: 1000 + maxBinaryRegrowthKB - 1, want: 7}, // which stays
		{resident: 1000 + maxBinaryRegrowthKB, want: 8},
		{resident: 99000, fail: true, want: 8}, // a failure ...
		{resident: 99000, want: 8},             // ... ends the releases
	}
	for i, s := range steps {
		resident = s.resident
		if s.fail {
			releaseErr = errors.New("no")
		} else {
			releaseErr = nil
		}
		b.tick(log)
		if releases != s.want {
			t.Fatalf("step %d: %d releases, want %d", i, releases, s.want)
		}
	}
}
