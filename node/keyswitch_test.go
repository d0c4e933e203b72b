package node

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

func TestKeyAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	oldKey, newKey := wire.WGPublic{1}, wire.WGPublic{2}
	tests := []struct {
		name string
		prev wire.WGPublic
		at   time.Time
		want wire.WGPublic
	}{
		{"no rotation", wire.WGPublic{}, time.Time{}, newKey},
		{"switch ahead", oldKey, now.Add(time.Millisecond), oldKey},
		{"switch now, within the lag", oldKey, now, oldKey},
		{"lag ends now", oldKey, now.Add(-switchLag), newKey},
		{"switch past", oldKey, now.Add(-time.Second), newKey},
		{"previous key without a time", oldKey, time.Time{}, newKey},
		{"previous key equals the new one", newKey, now.Add(time.Second), newKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wire.Node{WGKey: newKey, PrevWGKey: tt.prev, KeySwitchAt: tt.at}
			if got := keyAt(p, now); got != tt.want {
				t.Errorf("keyAt = %v, want %v", got.ShortString(), tt.want.ShortString())
			}
		})
	}
}

// clockPair is newPair with op (b) on a clock the test moves forward.
type clockPair struct {
	*pair
	ahead atomic.Int64 // op's clock minus the real one, in nanoseconds
}

func newClockPair(t *testing.T) *clockPair {
	t.Helper()
	cp := &clockPair{}
	open := startEchoServer(t)
	b := newTestNodeWith(t, 2, "op", nil, func(c *EngineConfig) {
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(cp.ahead.Load())) }
	})
	a := newTestNode(t, 1, "cam", nil, open)
	if err := a.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(b, a, open)}}); err != nil {
		t.Fatal(err)
	}
	a.addPeers(t, 3, b.peerOf(time.Time{}))
	b.addPeers(t, 2, a.peerOf(time.Time{}))
	eventuallyWithin(t, handshakeWait, "handshake", func() bool {
		st := b.e.Status()
		return len(st.Peers) == 1 && !st.Peers[0].LastHandshake.IsZero()
	})
	cp.pair = &pair{a: a, b: b, open: open}
	return cp
}

// heldKeys returns the keys the device of n holds its peers under.
func heldKeys(n *testNode) []wire.WGPublic {
	n.e.mu.Lock()
	defer n.e.mu.Unlock()
	var out []wire.WGPublic
	for k := range n.e.have {
		out = append(out, k)
	}
	return out
}

// leadsPeer reports whether n leads its pair with the peer under key k.
func leadsPeer(n *testNode, k wire.WGPublic) bool {
	n.e.mu.Lock()
	defer n.e.mu.Unlock()
	return n.e.have[k].leads
}

// TestRunningFlowKeepsOldKeyUntilSwitch: a peer told of a rotation keeps
// the rotating node under its old key until the switch time, so a flow
// goes on in between (it used to take the new key at once, and the flow
// stalled until the node switched and a handshake came through), then
// takes the new key at the switch, which the node makes at the same
// moment, and the flow goes on under the new key.
func TestRunningFlowKeepsOldKeyUntilSwitch(t *testing.T) {
	for _, tt := range []struct {
		name string
		// peerFirst makes op switch before cam (else cam first).
		peerFirst bool
	}{{"node switches first", false}, {"peer switches first", true}} {
		t.Run(tt.name, func(t *testing.T) {
			p := newClockPair(t)
			c, next := p.flowBeforeRotation(t)
			oldKey := p.a.priv.Public()
			switchAt := p.b.e.cfg.Clock().Add(time.Hour)
			rotated := p.a.peerOf(time.Time{})
			rotated.WGKey, rotated.PrevWGKey, rotated.KeySwitchAt = next.Public(), oldKey, switchAt
			p.b.addPeers(t, 3, rotated)

			// Announced, not switched: the flow goes on under the old key.
			if got, err := roundTrip(c, "announced"); err != nil || got != "announced" {
				t.Fatalf("between announcement and switch: %q, %v", got, err)
			}
			if got := heldKeys(p.b); len(got) != 1 || got[0] != oldKey {
				t.Fatalf("op holds cam under %v before the switch, want the old key only", got)
			}
			p.b.e.mu.Lock()
			wake := p.b.e.nextWake
			p.b.e.mu.Unlock()
			if wake.IsZero() || wake.After(switchAt.Add(switchLag)) {
				t.Errorf("op wakes at %v, want by the switch at %v and its lag", wake, switchAt)
			}

			// The switch, on both sides.
			peerSwitch := func() {
				p.ahead.Store(int64(time.Hour + switchLag))
				p.b.e.reconcileNow() // what op's timer does then
			}
			if tt.peerFirst {
				peerSwitch()
				// Early by a realistic margin: an initiation that reaches
				// cam in the instant of its switch can cross its own
				// inside wireguard-go (see keyswitch.go).
				time.Sleep(20 * time.Millisecond)
			}
			if err := p.a.e.SetPrivateKey(next); err != nil {
				t.Fatal(err)
			}
			if !tt.peerFirst {
				peerSwitch()
			}
			if got := heldKeys(p.b); len(got) != 1 || got[0] != next.Public() {
				t.Fatalf("op holds cam under %v after the switch, want the new key only", got)
			}
			// cam leads the pair (its handshake, sent as it switched, wins
			// a crossing), op follows, whatever their keys' order.
			if !leadsPeer(p.a, p.b.priv.Public()) || leadsPeer(p.b, next.Public()) {
				t.Errorf("after the switch cam leads %v, op leads %v; want cam only",
					leadsPeer(p.a, p.b.priv.Public()), leadsPeer(p.b, next.Public()))
			}
			for _, msg := range []string{"after", "and again"} {
				if got, err := roundTrip(c, msg); err != nil || got != msg {
					t.Fatalf("after the switch: %q, %v", got, err)
				}
			}
		})
	}
}

// TestRevokedPeerNotHeldToSwitch: a peer's old key is held until its
// switch only while the peer is valid: a revoked (expired) node is cut at
// once, and one whose key expires during the hold is cut then.
func TestRevokedPeerNotHeldToSwitch(t *testing.T) {
	for _, tt := range []struct {
		name   string
		expiry time.Duration // from now
	}{{"revoked during the hold", 0}, {"expires during the hold", 300 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, time.Time{})
			next, err := wire.NewWGPrivate()
			if err != nil {
				t.Fatal(err)
			}
			rotated := p.a.peerOf(time.Now().Add(tt.expiry))
			rotated.WGKey, rotated.PrevWGKey, rotated.KeySwitchAt = next.Public(), p.a.priv.Public(), time.Now().Add(time.Hour)
			p.b.addPeers(t, 3, rotated)
			eventually(t, "cam dropped", func() bool { return len(heldKeys(p.b)) == 0 })
			if err := echoThrough(p.b, p.a.self.IPv4.String(), p.open, noAnswer); err == nil {
				t.Fatal("echo to a revoked node still works")
			}
		})
	}
}
