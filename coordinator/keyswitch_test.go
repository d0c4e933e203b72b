package coordinator

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

func TestKeySwitchOf(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	pending := store.Node{WGKey: store.WGPublic{2}, PrevWGKey: store.WGPublic{1}, PrevWGKeyUntil: now.Add(200 * time.Millisecond),
		KeyExpiry: now.Add(24 * time.Hour)}
	tests := []struct {
		name   string
		change func(*store.Node)
		want   bool
	}{
		{"switch ahead", func(*store.Node) {}, true},
		{"switch passed", func(n *store.Node) { n.PrevWGKeyUntil = now }, false},
		{"no previous key", func(n *store.Node) { n.PrevWGKey = store.WGPublic{} }, false},
		{"old key had lapsed (no overlap)", func(n *store.Node) { n.PrevWGKeyUntil = time.Time{} }, false},
		{"revoked", func(n *store.Node) { n.KeyRevokedAt = now.Add(-time.Second) }, false},
		{"expired", func(n *store.Node) { n.KeyExpiry = now }, false},
		{"previous key equals the current", func(n *store.Node) { n.PrevWGKey = n.WGKey }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := pending
			tt.change(&n)
			prev, at := keySwitchOf(n, now)
			if got := !prev.IsZero() || !at.IsZero(); got != tt.want {
				t.Fatalf("keySwitchOf = %v at %v, want a switch %v", prev.ShortString(), at, tt.want)
			}
			if tt.want && (prev != wire.WGPublic(n.PrevWGKey) || !at.Equal(n.PrevWGKeyUntil)) {
				t.Errorf("keySwitchOf = %v at %v, want %v at %v", prev.ShortString(), at, wire.WGPublic(n.PrevWGKey).ShortString(), n.PrevWGKeyUntil)
			}
		})
	}
}

func TestSameRecordIgnoresPassedSwitch(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	base := wire.Node{ID: 1, Name: "cam1", WGKey: wire.WGPublic{2}}
	held := base
	held.PrevWGKey, held.KeySwitchAt = wire.WGPublic{1}, now.Add(-time.Second)
	if !sameRecord(held, base, now) {
		t.Error("a record whose switch passed is remade for that alone")
	}
	held.KeySwitchAt = now.Add(time.Second)
	if sameRecord(held, base, now) {
		t.Error("a record whose switch lies ahead counts as one without it")
	}
	other := base
	other.Name = "cam2"
	held.KeySwitchAt = now.Add(-time.Second)
	if sameRecord(held, other, now) {
		t.Error("a changed record counts as the same")
	}
}

// TestRotationTellsPeersTheSwitch: after a device's rotation, its peers'
// maps carry the old key and the switch time the device was given, so
// they keep the old key until the device switches; never past the old
// key's expiry, and never for a revoked device, which its peers drop at
// once.
func TestRotationTellsPeersTheSwitch(t *testing.T) {
	for _, tt := range []struct {
		name     string
		lifetime time.Duration
		wantHold bool
	}{
		{"old key valid past the switch", 0, true},
		{"old key lapses before the switch", 10 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A long switch delay: the test reads the maps well before it.
			c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.KeySwitchDelay, cfg.KeyLifetime = time.Hour, tt.lifetime })
			cam := c.mustRegister([]string{"tag:camera"}, "cam1")
			op := c.mustRegister([]string{"tag:operator"}, "op1")
			c.session(op)
			camNode := c.nodeOfMachine(cam)
			nk, _ := wire.NewWGPrivate()
			code, b := c.call("POST", wire.PathRotate, cam.token, wire.RotateRequest{WGKey: nk.Public()})
			var rot wire.RotateResponse
			if code != http.StatusOK || json.Unmarshal(b, &rot) != nil {
				t.Fatalf("rotate: %d %s", code, b)
			}
			if rot.SwitchIn() < 59*time.Minute || rot.SwitchIn() > time.Hour {
				t.Errorf("switch in %v, want the configured hour", rot.SwitchIn())
			}
			var peer *wire.Node
			for _, p := range c.openMap(op, 0).next().Peers {
				if p.Name == "cam1" {
					peer = &p
				}
			}
			if peer == nil || peer.WGKey != nk.Public() {
				t.Fatalf("op's map: cam1 %+v, want it with the new key", peer)
			}
			hold := peer.PrevWGKey == wire.WGPublic(camNode.WGKey) && !peer.KeySwitchAt.IsZero()
			if hold != tt.wantHold || (!hold && (!peer.PrevWGKey.IsZero() || !peer.KeySwitchAt.IsZero())) {
				t.Fatalf("op's map: cam1 previous key %v until %v, want a hold %v", peer.PrevWGKey.ShortString(), peer.KeySwitchAt, tt.wantHold)
			}
			if hold {
				if d := rot.ServerTime.Add(rot.SwitchIn()).Sub(peer.KeySwitchAt).Abs(); d > 10*time.Millisecond {
					t.Errorf("peers switch at %v, the device %v after %v", peer.KeySwitchAt, rot.SwitchIn(), rot.ServerTime)
				}
			}
			if self := c.openMap(cam, 0).next().Self; self == nil || !self.PrevWGKey.IsZero() || !self.KeySwitchAt.IsZero() {
				t.Errorf("cam's own Self carries a switch: %+v", self)
			}
			c.expireNode(camNode.ID)
			c.wantNotPeer(op, "cam1")
		})
	}
}
