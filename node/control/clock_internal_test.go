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

// TestKeySwitchPlacement: a peer's key switch time is placed as a wait
// from the map message's arrival (its distance from the message's
// ServerTime), not by the clock offset, which is kept only to within
// offsetJitter; a switch already past is none; the wait is at most
// maxSwitchDelay.
func TestKeySwitchPlacement(t *testing.T) {
	recv := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	server := recv.Add(3 * time.Hour) // the coordinator's clock is far ahead
	tests := []struct {
		name   string
		at     time.Time
		server time.Time
		off    time.Duration // the offset estimated so far
		want   time.Time
	}{
		{"no switch", time.Time{}, server, 0, time.Time{}},
		{"ahead", server.Add(200 * time.Millisecond), server, 3 * time.Hour, recv.Add(200 * time.Millisecond)},
		{"ahead, offset not known (within the jitter)", server.Add(200 * time.Millisecond), server, 0, recv.Add(200 * time.Millisecond)},
		{"past", server.Add(-time.Millisecond), server, 3 * time.Hour, time.Time{}},
		{"at the message's time", server, server, 0, time.Time{}},
		{"far ahead", server.Add(time.Hour), server, 0, recv.Add(maxSwitchDelay)},
		{"coordinator without server time", recv.Add(3*time.Hour + 200*time.Millisecond), time.Time{}, 3 * time.Hour, recv.Add(200 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &skew{now: func() time.Time { return recv }, off: tt.off}
			if got := s.keySwitch(tt.at, tt.server, recv); !got.Equal(tt.want) {
				t.Errorf("keySwitch = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLocalMapKeySwitch: localMap places the peers' switch times, drops
// a past switch with its previous key, and leaves none in the node's own
// Self.
func TestLocalMapKeySwitch(t *testing.T) {
	recv := time.Now()
	s := &skew{now: time.Now}
	prev, cur := wire.WGPublic{1}, wire.WGPublic{2}
	m := wire.MapResponse{ServerTime: recv, Self: &wire.Node{ID: 1, WGKey: cur, PrevWGKey: prev, KeySwitchAt: recv.Add(time.Second)},
		Peers:        []wire.Node{{ID: 2, WGKey: cur, PrevWGKey: prev, KeySwitchAt: recv.Add(200 * time.Millisecond)}},
		PeersChanged: []wire.Node{{ID: 3, WGKey: cur, PrevWGKey: prev, KeySwitchAt: recv.Add(-time.Second)}}}
	s.localMap(&m, recv)
	if !m.Self.PrevWGKey.IsZero() || !m.Self.KeySwitchAt.IsZero() {
		t.Errorf("own Self keeps a switch: %+v", *m.Self)
	}
	if p := m.Peers[0]; p.PrevWGKey != prev || !p.KeySwitchAt.Equal(recv.Add(200*time.Millisecond)) {
		t.Errorf("pending switch: %v at %v", p.PrevWGKey, p.KeySwitchAt)
	}
	if p := m.PeersChanged[0]; !p.PrevWGKey.IsZero() || !p.KeySwitchAt.IsZero() {
		t.Errorf("past switch kept: %v at %v", p.PrevWGKey, p.KeySwitchAt)
	}
}
