package sim

import (
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestProbeCountsWantedStreams: a probe is done once every wanted stream
// heard, whether it heard before or after the wanted set was known, and
// neither a repeat nor an unwanted stream counts.
func TestProbeCountsWantedStreams(t *testing.T) {
	m := &wire.MapResponse{Version: 1}
	for _, tc := range []struct {
		name   string
		before []wire.NodeID // heard before expect
		after  []wire.NodeID // heard after
		done   bool
	}{
		{name: "all after", after: []wire.NodeID{1, 2, 3}, done: true},
		{name: "all before", before: []wire.NodeID{3, 2, 1}, done: true},
		{name: "split", before: []wire.NodeID{1}, after: []wire.NodeID{2, 3}, done: true},
		{name: "repeats", before: []wire.NodeID{1, 1}, after: []wire.NodeID{2, 2, 1}},
		{name: "others", after: []wire.NodeID{1, 2, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProbe(func(*wire.MapResponse) bool { return true })
			for _, id := range tc.before {
				p.observe(id, m, time.Now())
			}
			p.expect(map[wire.NodeID]bool{1: true, 2: true, 3: true})
			for _, id := range tc.after {
				p.observe(id, m, time.Now())
			}
			if got := isClosed(p.done); got != tc.done {
				t.Fatalf("done %v, want %v", got, tc.done)
			}
			times, missing := p.wait(0)
			if len(times)+missing != 3 || tc.done != (missing == 0) {
				t.Fatalf("wait: %d times, %d missing", len(times), missing)
			}
		})
	}
}
