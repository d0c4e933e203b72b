package coordinator

import (
	"fmt"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// BenchmarkDisableUserFanout50 reports the time from disabling a user to the
// last of 50 camera nodes receiving the map delta that drops the user's key,
// over real map streams.
func BenchmarkDisableUserFanout50(b *testing.B) {
	for range b.N {
		b.StopTimer()
		c := startCoordWith(b, userPolicy, func(cfg *Config) { cfg.Auth = fakeAuth{} })
		var streams []*mapStream
		key := c.authKey([]string{"tag:camera"}, true, "")
		for i := range 50 {
			m := newMachine(b)
			if code, _ := c.register(m, key, fmt.Sprintf("cam%d", i)); code != 200 {
				b.Fatalf("register: %d", code)
			}
			s := c.openMap(m, 0)
			s.next()
			streams = append(streams, s)
		}
		alice := newMachine(b)
		if res, _ := c.login(alice, "alice", "ops"); res.Node == nil {
			b.Fatal("login failed")
		}
		for _, s := range streams { // each camera learns of alice
			for {
				if m := s.next(); len(m.PeersChanged) > 0 {
					break
				}
			}
		}
		b.StartTimer()
		start := time.Now()
		if code := c.admin("POST", wire.PathAdminUsers+"/alice@example.com/disable", nil, nil); code != 200 {
			b.Fatalf("disable: %d", code)
		}
		for _, s := range streams {
			for {
				if m := s.next(); len(m.PeersRemoved) > 0 {
					break
				}
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-to-last-of-50")
		b.StopTimer()
		c.stop() // each round's coordinator and streams go now, not at the end
		b.StartTimer()
	}
}
