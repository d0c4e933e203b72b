package node

import (
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestHomeRelayChosenByLatency: home starts as the map's first relay,
// moves to a clearly nearer one, stays put for a small gain, follows a
// pin while the map lists the pinned relay, and falls back to the first
// when the map drops home.
func TestHomeRelayChosenByLatency(t *testing.T) {
	rs := []wire.Relay{{Name: "coordinator", URL: "/ward/v1/relay"}, {Name: "fra1", URL: "wss://fra1/ward/v1/relay"},
		{Name: "nyc1", URL: "wss://nyc1/ward/v1/relay"}}
	ms := time.Millisecond
	tests := []struct {
		name   string
		pinned string
		rtts   map[string]time.Duration
		want   string
	}{
		{"no measurements: the first", "", nil, "coordinator"},
		{"a clearly nearer relay", "", map[string]time.Duration{"coordinator": 90 * ms, "fra1": 20 * ms, "nyc1": 80 * ms}, "fra1"},
		{"a small gain: stay", "", map[string]time.Duration{"coordinator": 30 * ms, "fra1": 25 * ms}, "coordinator"},
		{"home unmeasured: the measured one", "", map[string]time.Duration{"nyc1": 70 * ms}, "nyc1"},
		{"pinned: whatever the round trips", "nyc1", map[string]time.Duration{"coordinator": 90 * ms, "fra1": 5 * ms, "nyc1": 200 * ms}, "nyc1"},
		{"pinned to an unknown relay: by latency", "lon1", map[string]time.Duration{"coordinator": 90 * ms, "fra1": 5 * ms}, "fra1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newRelayLink(nil, nil)
			l.pinned = tt.pinned
			l.setRelays(rs)
			l.chooseHome(tt.rtts)
			if got := l.homeName(); got != tt.want {
				t.Errorf("home %q, want %q", got, tt.want)
			}
		})
	}
	l := newRelayLink(nil, nil)
	l.setRelays(rs)
	l.chooseHome(map[string]time.Duration{"coordinator": 90 * ms, "nyc1": 10 * ms})
	l.setRelays(rs[:2])
	if got := l.homeName(); got != "coordinator" {
		t.Errorf("after the map dropped home: %q, want the first relay", got)
	}
}
