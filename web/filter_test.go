package web

import (
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestKeySoon: "expiring soon" is less than a quarter of the key's own
// life left; never for an expired key, a key that never expires, or one
// whose lifetime the backend does not say.
func TestKeySoon(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	node := func(left, life time.Duration, expired bool) wire.AdminNode {
		n := wire.AdminNode{Expired: expired, KeyLifetimeMillis: life.Milliseconds()}
		if left != 0 {
			n.KeyExpiry = now.Add(left)
		}
		return n
	}
	for _, c := range []struct {
		name       string
		left, life time.Duration
		expired    bool
		want       bool
	}{
		{"fresh device key", 20 * time.Hour, 24 * time.Hour, false, false},
		{"device past its rotation", 5 * time.Hour, 24 * time.Hour, false, true},
		{"exactly a quarter left", 6 * time.Hour, 24 * time.Hour, false, false},
		{"person, 2h of 12h", 2 * time.Hour, 12 * time.Hour, false, true},
		{"person, 4h of 12h", 4 * time.Hour, 12 * time.Hour, false, false},
		{"long-lived key, 30 days of 90", 30 * 24 * time.Hour, 90 * 24 * time.Hour, false, false},
		{"expired by the clock", -time.Minute, 24 * time.Hour, false, false},
		{"expired by the coordinator", time.Hour, 24 * time.Hour, true, false},
		{"never expires", 0, 24 * time.Hour, false, false},
		{"lifetime unknown", time.Minute, 0, false, false},
	} {
		if got := keySoon(node(c.left, c.life, c.expired), now); got != c.want {
			t.Errorf("%s: soon = %v, want %v", c.name, got, c.want)
		}
	}
}
