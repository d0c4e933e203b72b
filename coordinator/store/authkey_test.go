package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCreateAuthKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		key     func() NewAuthKey
		wantErr error
	}{
		{"tagged", func() NewAuthKey { return tagKey("k1") }, nil},
		{"user's", func() NewAuthKey { k := tagKey("k1"); k.Tags, k.UserID = nil, 1; return k }, nil},
		{"reusable ephemeral expiring", func() NewAuthKey {
			k := tagKey("k1")
			k.Reusable, k.Ephemeral, k.Expiry = true, true, t0.Add(time.Hour)
			return k
		}, nil},
		{"zero hash", func() NewAuthKey { k := tagKey("k1"); k.Hash = SecretHash{}; return k }, ErrInvalid},
		{"no prefix", func() NewAuthKey { k := tagKey("k1"); k.Prefix = ""; return k }, ErrInvalid},
		{"no owner", func() NewAuthKey { k := tagKey("k1"); k.Tags = nil; return k }, ErrInvalid},
		{"empty tag", func() NewAuthKey { k := tagKey("k1"); k.Tags = []string{""}; return k }, ErrInvalid},
		{"user and tags", func() NewAuthKey { k := tagKey("k1"); k.UserID = 1; return k }, ErrInvalid},
		{"unknown user", func() NewAuthKey { k := tagKey("k1"); k.Tags, k.UserID = nil, 9; return k }, ErrNotFound},
		{"duplicate hash", func() NewAuthKey { return tagKey("k0") }, ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			mustUser(t, s, "alice@example.com")
			mustAuthKey(t, s, tagKey("k0"))
			nk := tt.key()
			k, err := s.CreateAuthKey(ctx, nk)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateAuthKey error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if keys, _ := s.ListAuthKeys(ctx); len(keys) != 1 {
					t.Errorf("%d keys after a refused create, want 1", len(keys))
				}
				return
			}
			want := AuthKey{ID: k.ID, Prefix: nk.Prefix, Tags: nk.Tags, UserID: nk.UserID,
				Reusable: nk.Reusable, Ephemeral: nk.Ephemeral, Expiry: nk.Expiry,
				CreatedBy: nk.CreatedBy, CreatedAt: nk.CreatedAt}
			if d := diff(want, k); d != "" {
				t.Errorf("key (-want +got):\n%s", d)
			}
			if got, _ := s.AuthKey(ctx, k.ID); diff(k, got) != "" {
				t.Errorf("AuthKey (-created +got):\n%s", diff(k, got))
			}
		})
	}
}

func TestAuthKeyListAndRevoke(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a := mustAuthKey(t, s, tagKey("aaaa"))
	b := mustAuthKey(t, s, tagKey("bbbb"))
	if err := s.RevokeAuthKey(ctx, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAuthKey(ctx, a.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	a.RevokedAt = t0 // the first revocation time is kept
	keys, err := s.ListAuthKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]AuthKey{a, b}, keys); d != "" {
		t.Errorf("ListAuthKeys (-want +got):\n%s", d)
	}
	if err := s.RevokeAuthKey(ctx, 99, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.AuthKey(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing key: %v, want ErrNotFound", err)
	}
}

func TestAuthKeyNotFoundMatchesNotFound(t *testing.T) {
	if !errors.Is(ErrAuthKeyNotFound, ErrNotFound) || !errors.Is(ErrAPIKeyNotFound, ErrNotFound) {
		t.Error("key-not-found errors must match ErrNotFound")
	}
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		key     NewAPIKey
		prepare func(s *SQLStore, id APIKeyID) error
		lookup  string
		at      time.Time
		wantErr error
	}{
		{name: "ok", key: apiKey("s1", time.Time{}), lookup: "s1", at: t0},
		{name: "ok before expiry", key: apiKey("s1", t0.Add(time.Hour)), lookup: "s1", at: t0},
		{name: "unknown", key: apiKey("s1", time.Time{}), lookup: "s2", at: t0, wantErr: ErrAPIKeyNotFound},
		{name: "expired", key: apiKey("s1", t0), lookup: "s1", at: t0, wantErr: ErrAPIKeyExpired},
		{name: "revoked", key: apiKey("s1", time.Time{}), lookup: "s1", at: t0, wantErr: ErrAPIKeyRevoked,
			prepare: func(s *SQLStore, id APIKeyID) error { return s.RevokeAPIKey(ctx, id, t0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			created, err := s.CreateAPIKey(ctx, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				if err := tt.prepare(s, created.ID); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.APIKeyByHash(ctx, secret(tt.lookup), tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("APIKeyByHash error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && diff(created, got) != "" {
				t.Errorf("APIKeyByHash (-created +got):\n%s", diff(created, got))
			}
		})
	}
}

// apiKey returns an API key to create with the given secret and expiry.
func apiKey(sec string, expiry time.Time) NewAPIKey {
	return NewAPIKey{Hash: secret(sec), Prefix: sec, Description: "ci deploys",
		CreatedBy: "user:admin@example.com", CreatedAt: t0, Expiry: expiry, Scopes: []string{"fleet", "policy"}}
}

func TestAPIKeyLifecycle(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	k, err := s.CreateAPIKey(ctx, apiKey("s1", time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, apiKey("s1", time.Time{})); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate hash: %v, want ErrDuplicate", err)
	}
	if k.Scopes == nil || len(k.Scopes) != 2 || k.Scopes[1] != "policy" {
		t.Errorf("created key's scopes = %q, want [fleet policy]", k.Scopes)
	}
	for _, bad := range []NewAPIKey{{Prefix: "x", Scopes: []string{"read"}}, {Hash: secret("s3"), Scopes: []string{"read"}},
		{Hash: secret("s4"), Prefix: "s4"}, {Hash: secret("s5"), Prefix: "s5", Scopes: []string{"read,admin"}}} {
		if _, err := s.CreateAPIKey(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateAPIKey(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := s.TouchAPIKey(ctx, k.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, k.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	k.LastUsed, k.RevokedAt = t0.Add(time.Minute), t0.Add(time.Hour)
	keys, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]APIKey{k}, keys); d != "" {
		t.Errorf("ListAPIKeys (-want +got):\n%s", d)
	}
	for name, err := range map[string]error{
		"touch":  s.TouchAPIKey(ctx, 99, t0),
		"revoke": s.RevokeAPIKey(ctx, 99, t0),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s missing key: %v, want ErrNotFound", name, err)
		}
	}
}
