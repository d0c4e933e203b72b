package control

import (
	"context"
	"math/rand/v2"
	"time"
)

// DefaultBackoff returns the map stream's reconnect pacing.
func DefaultBackoff() Backoff { return Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second} }

// Backoff paces retries: the delay doubles from Min with every failed
// attempt up to Max, and each delay is drawn at random from its upper half
// so that a fleet does not reconnect in lockstep.
type Backoff struct {
	// Min is the first delay; must be > 0 (else DefaultBackoff()'s).
	Min time.Duration
	// Max caps the delay; must be >= Min (else Min).
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = DefaultBackoff().Min
	}
	if b.Max < b.Min {
		b.Max = max(b.Min, DefaultBackoff().Max)
	}
	return b
}

// Delay returns the delay before retry number attempt (0 for the first).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
