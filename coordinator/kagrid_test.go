package coordinator

import (
	"context"
	"testing"
	"time"
)

// TestNextKeepAliveOnGrid: the next keep-alive is after now, never more
// than the interval away (the keep-alive contract), on the grid of the
// stream's phase: streams with one phase and interval get the same
// moments whenever they ask.
func TestNextKeepAliveOnGrid(t *testing.T) {
	const ka = 40 * time.Second
	for _, phase := range []time.Duration{0, time.Millisecond, 17 * time.Second, ka, 59 * time.Minute} {
		for _, at := range []time.Duration{-3 * time.Hour, -ka, -time.Second, 0, time.Nanosecond, 39 * time.Second, 5*time.Hour + 3*time.Millisecond} {
			now := kaEpoch.Add(at)
			next := nextKeepAlive(now, phase, ka)
			if !next.After(now) || next.Sub(now) > ka {
				t.Errorf("phase %v at %v: next keep-alive in %v, want within (0, %v]", phase, at, next.Sub(now), ka)
			}
			if off := (next.Sub(kaEpoch) - phase%ka) % ka; off != 0 {
				t.Errorf("phase %v at %v: next keep-alive %v off the grid", phase, at, off)
			}
			// Another stream of the phase, asking a little later, gets
			// the same moment while it is still ahead.
			if later := now.Add(next.Sub(now) / 2); !nextKeepAlive(later, phase, ka).Equal(next) {
				t.Errorf("phase %v at %v: a stream asking later got %v, want %v", phase, at, nextKeepAlive(later, phase, ka).Sub(kaEpoch), next.Sub(kaEpoch))
			}
		}
	}
}

// TestKeepAlivePhaseGroupsAConnectionsStreams: the streams of one
// connection share its phase, kaGroup at a time; the next group gets
// another phase, and a request without a connection's phase gets 0.
func TestKeepAlivePhaseGroupsAConnectionsStreams(t *testing.T) {
	ctx := withConnKeepAlive(context.Background(), nil)
	first := keepAlivePhase(ctx)
	for i := 1; i < kaGroup; i++ {
		if got := keepAlivePhase(ctx); got != first {
			t.Fatalf("stream %d of the connection: phase %v, want the connection's %v", i, got, first)
		}
	}
	if got := keepAlivePhase(ctx); got == first {
		t.Errorf("stream %d of the connection: the first group's phase %v, want another group's", kaGroup, got)
	}
	if got := keepAlivePhase(context.Background()); got != 0 {
		t.Errorf("no connection: phase %v, want 0", got)
	}
}
