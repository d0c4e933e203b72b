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
	n := mustRegister(t, s, 1, t0)

	// Not revoked: the machine key is taken and the new key stays unused.
	k := tagKey("second-key")
	k.Tags = []string{"tag:gateway"}
	mustAuthKey(t, s, k)
	nn := newNode(1)
	nn.WGKey = wgkey(7)
	nn.KeyExpiry = t0.Add(48 * time.Hour)
	if _, _, err := s.RegisterWithAuthKey(ctx, secret("second-key"), t0, nn); !errors.Is(err, ErrMachineExists) {
		t.Fatalf("re-register of a node in good standing: error = %v, want ErrMachineExists", err)
	}

	if err := s.RevokeNodeKey(ctx, n.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, key, err := s.RegisterWithAuthKey(ctx, secret("second-key"), t0.Add(2*time.Hour), nn)
	if err != nil {
		t.Fatalf("re-register of a revoked node: %v", err)
	}
	if got.ID != n.ID || got.Name != n.Name || got.IPv4 != n.IPv4 || got.IPv6 != n.IPv6 {
		t.Errorf("re-keyed node changed identity: %+v, was %+v", got, n)
	}
	if got.WGKey != wgkey(7) || !got.KeyExpiry.Equal(nn.KeyExpiry) || !got.KeyRevokedAt.IsZero() {
		t.Errorf("re-keyed node: key %v expiry %v revoked %v", got.WGKey, got.KeyExpiry, got.KeyRevokedAt)
	}
	if len(got.Tags) != 1 || got.Tags[0] != "tag:gateway" || got.AuthKeyID != key.ID || key.UseCount != 1 {
		t.Errorf("re-keyed node takes the new key's owner: tags %v auth key %d (want %d), use count %d", got.Tags, got.AuthKeyID, key.ID, key.UseCount)
	}
	if !got.PrevWGKey.IsZero() {
		t.Errorf("the revoked key must not stay valid as the previous key: %v", got.PrevWGKey)
	}
}
