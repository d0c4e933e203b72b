package coordinator

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/coordinator/store"
)

// TestRolloutGatesAndWaves pins the arithmetic of gates and waves: a
// count or a share, the minimum sample, acknowledged failures, and waves
// cut from the selection (shares rounded up, the last taking the rest,
// empty ones dropped).
func TestRolloutGatesAndWaves(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gate      string
		c         waveCount
		ack, min  int
		trips     bool
		successOK bool
	}{
		{"count reached", "2", waveCount{devices: 10, failed: 2, healthy: 3, ended: 5}, 0, 0, true, true},
		{"count not reached", "2", waveCount{devices: 10, failed: 1, ended: 1}, 0, 0, false, false},
		{"share under the sample", "10%", waveCount{devices: 10, failed: 1, ended: 1}, 0, 5, false, false},
		{"share over the sample", "10%", waveCount{devices: 10, failed: 1, healthy: 4, ended: 5}, 0, 5, true, true},
		{"share below", "30%", waveCount{devices: 10, failed: 1, healthy: 4, ended: 5}, 0, 5, false, true},
		{"acknowledged", "1", waveCount{devices: 10, failed: 1, healthy: 1, ended: 2}, 1, 0, false, true},
		{"a new failure after the ack", "1", waveCount{devices: 10, failed: 2, ended: 2}, 1, 0, true, false},
	} {
		g, err := parseSize(tc.gate)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := g.trips(tc.c, tc.ack, tc.min); got != tc.trips {
			t.Errorf("%s: failure gate %s trips = %v, want %v", tc.name, tc.gate, got, tc.trips)
		}
		if got := g.holds(tc.c); got != tc.successOK {
			t.Errorf("%s: success gate %s holds = %v, want %v", tc.name, tc.gate, got, tc.successOK)
		}
	}
	ids := make([]store.NodeID, 10)
	for i := range ids {
		ids[i] = store.NodeID(i + 1)
	}
	for _, tc := range []struct {
		waves []string
		want  []int
	}{
		{[]string{"5", "5%", "25%", "100%"}, []int{5, 1, 3, 1}},
		{[]string{"100%"}, []int{10}},
		{[]string{"20", "100%"}, []int{10}},
		{[]string{"1", "1"}, []int{1, 9}},
		{[]string{"50%", "50%", "50%"}, []int{5, 5}},
	} {
		var got []int
		for _, w := range splitWaves(tc.waves, ids) {
			got = append(got, len(w))
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("waves %v of 10 (-want +got):\n%s", tc.waves, d)
		}
	}
}
