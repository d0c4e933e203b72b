package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRevokeAndApproveNode(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n := mustRegister(t, s, 1, t0)
	at := t0.Add(time.Hour)
	if err := s.RevokeNodeKey(ctx, n.ID, at); err != nil {
		t.Fatal(err)
	}
	got, err := s.Node(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.KeyRevokedAt.Equal(at) || !got.KeyExpiry.Equal(at) {
		t.Fatalf("after revoke: revoked %v expiry %v, want both %v", got.KeyRevokedAt, got.KeyExpiry, at)
	}
	if err := s.ApproveNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Node(ctx, n.ID)
	if !got.KeyRevokedAt.IsZero() || !got.KeyExpiry.Equal(at) {
		t.Fatalf("after approve: revoked %v expiry %v; want not revoked, key still expired at %v", got.KeyRevokedAt, got.KeyExpiry, at)
	}
	for name, err := range map[string]error{
		"revoke missing":  s.RevokeNodeKey(ctx, 99, at),
		"approve missing": s.ApproveNode(ctx, 99),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: error = %v, want ErrNotFound", name, err)
		}
	}
}

func TestRegisterWithNewAuthKeyRekeysRevokedNode(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n := mustRegister(t, s, 1, t0) // with a reusable tag:camera key made at t0
	nn := newNode(1)
	nn.WGKey = wgkey(7)
	nn.KeyExpiry = t0.Add(48 * time.Hour)

	// Not revoked: the machine key is taken and a new key stays unused.
	fresh := tagKey("fresh-key")
	fresh.CreatedAt = t0.Add(2 * time.Hour)
	mustAuthKey(t, s, fresh)
	if _, _, err := s.RegisterWithAuthKey(ctx, secret("fresh-key"), t0.Add(2*time.Hour), nn); !errors.Is(err, ErrMachineExists) {
		t.Fatalf("re-register of a node in good standing: error = %v, want ErrMachineExists", err)
	}

	if err := s.RevokeNodeKey(ctx, n.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A key made before the revocation (the node's own reusable key, or one
	// that leaked with it) cannot undo it; a key for other tags cannot take
	// over the node's name and addresses.
	old := tagKey("old-key")
	old.Reusable = true
	mustAuthKey(t, s, old)
	other := tagKey("other-tags")
	other.Tags, other.CreatedAt = []string{"tag:gateway"}, t0.Add(2*time.Hour)
	mustAuthKey(t, s, other)
	for name, tc := range map[string]struct {
		key  string
		want error
	}{
		"key made before the revocation": {"old-key", ErrAuthKeyBeforeRevocation},
		"key for other tags":             {"other-tags", ErrInvalid},
	} {
		if _, _, err := s.RegisterWithAuthKey(ctx, secret(tc.key), t0.Add(2*time.Hour), nn); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", name, err, tc.want)
		}
	}
	if got, _ := s.Node(ctx, n.ID); got.KeyRevokedAt.IsZero() || got.WGKey != n.WGKey {
		t.Fatalf("a refused re-registration changed the node: %+v", got)
	}

	got, key, err := s.RegisterWithAuthKey(ctx, secret("fresh-key"), t0.Add(2*time.Hour), nn)
	if err != nil {
		t.Fatalf("re-register of a revoked node with a new key: %v", err)
	}
	if got.ID != n.ID || got.Name != n.Name || got.IPv4 != n.IPv4 || got.IPv6 != n.IPv6 {
		t.Errorf("re-keyed node changed identity: %+v, was %+v", got, n)
	}
	if got.WGKey != wgkey(7) || !got.KeyExpiry.Equal(nn.KeyExpiry) || !got.KeyRevokedAt.IsZero() {
		t.Errorf("re-keyed node: key %v expiry %v revoked %v", got.WGKey, got.KeyExpiry, got.KeyRevokedAt)
	}
	if got.AuthKeyID != key.ID || key.UseCount != 1 || !got.PrevWGKey.IsZero() {
		t.Errorf("re-keyed node: auth key %d (want %d), use count %d, previous key %v", got.AuthKeyID, key.ID, key.UseCount, got.PrevWGKey)
	}
}

func TestRotationRules(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dev := mustRegister(t, s, 1, t0)
	revoked := mustRegister(t, s, 2, t0)
	if err := s.RevokeNodeKey(ctx, revoked.ID, t0); err != nil {
		t.Fatal(err)
	}
	alice := mustUser(t, s, "alice@example.com")
	laptop, err := s.RegisterWithUser(ctx, alice.ID, t0, newNode(3))
	if err != nil {
		t.Fatal(err)
	}
	bob := mustUser(t, s, "bob@example.com")
	bobs, err := s.RegisterWithUser(ctx, bob.ID, t0, newNode(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		node Node
		rule RotationRule
		want error
	}{
		{"device rotates", dev, RotateDevice, nil},
		{"revoked device", revoked, RotateDevice, ErrRotationRefused},
		{"person's node by rotation", laptop, RotateDevice, ErrRotationRefused},
		{"person's node by login", laptop, RotateLogin, nil},
		{"disabled person's node by login", bobs, RotateLogin, ErrUserDisabled},
		{"device by login", dev, RotateLogin, ErrRotationRefused},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RotateWGKey(ctx, tt.node.ID, KeyRotation{Key: wgkey(100 + i), Expiry: t0.Add(time.Hour), Rule: tt.rule})
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			got, _ := s.Node(ctx, tt.node.ID)
			if changed := got.WGKey == wgkey(100+i); changed != (tt.want == nil) {
				t.Fatalf("key changed = %v, want %v", changed, tt.want == nil)
			}
		})
	}
}
