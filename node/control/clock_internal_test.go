package control

import (
	"math"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestRotationSwitchBounds: whatever switch_in_ms a coordinator of
// protocol version 2 sends, even one that overflows a time.Duration, the
// switch comes between the answer and a minute after it.
func TestRotationSwitchBounds(t *testing.T) {
	recv := time.Now()
	s := &skew{now: time.Now}
	for _, ms := range []int64{-1, 0, 500, 60_000, 60_001, 3_600_000, math.MaxInt64 / 1000, math.MaxInt64} {
		resp := wire.RotateResponse{ServerTime: recv, SwitchInMillis: ms}
		got := s.rotation(resp, recv, recv).SwitchAt.Sub(recv)
		want := min(max(time.Duration(ms)*time.Millisecond, 0), time.Minute)
		if ms > 60_000 {
			want = time.Minute
		}
		if got != want {
			t.Errorf("switch_in_ms %d: switch after %v, want %v", ms, got, want)
		}
	}
}
