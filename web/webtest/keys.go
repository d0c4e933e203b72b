package webtest

import (
	"context"
	"fmt"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// expiryOf parses a Go duration; empty means def from now (zero def: never).
func expiryOf(s string, def time.Duration, now time.Time) (time.Time, error) {
	if s == "" {
		if def == 0 {
			return time.Time{}, nil
		}
		return now.Add(def), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%w: expiry %q is not a positive duration like 24h", web.ErrBadRequest, s)
	}
	return now.Add(d), nil
}

// CreateAuthKey implements web.Backend.
func (b *Backend) CreateAuthKey(_ context.Context, req wire.CreateAuthKeyRequest, by admin.Principal) (wire.AuthKey, error) {
	actor := by.Actor
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkTagsLocked(req.Tags); err != nil {
		return wire.AuthKey{}, err
	}
	now := b.now().UTC()
	exp, err := expiryOf(req.Expiry, 24*time.Hour, now)
	if err != nil {
		return wire.AuthKey{}, err
	}
	secret, prefix, err := newSecret("wpk")
	if err != nil {
		return wire.AuthKey{}, err
	}
	k := wire.AuthKey{ID: int64(len(b.authKeys) + 1), Prefix: prefix, Tags: req.Tags, Reusable: req.Reusable,
		Ephemeral: req.Ephemeral, Expiry: exp, CreatedAt: now, CreatedBy: actor}
	b.authKeys = append(b.authKeys, k)
	b.changedLocked(actor, "authkey.create", fmt.Sprintf("authkey:%d", k.ID), map[string]any{"tags": k.Tags})
	k.Key = secret
	return k, nil
}

// ListAuthKeys implements web.Backend.
func (b *Backend) ListAuthKeys(context.Context) ([]wire.AuthKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]wire.AuthKey(nil), b.authKeys...), nil
}

// RevokeAuthKey implements web.Backend.
func (b *Backend) RevokeAuthKey(_ context.Context, id int64, actor string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id < 1 || id > int64(len(b.authKeys)) {
		return fmt.Errorf("auth key %d: %w", id, web.ErrNotFound)
	}
	b.authKeys[id-1].Revoked = true
	b.changedLocked(actor, "authkey.revoke", fmt.Sprintf("authkey:%d", id), nil)
	return nil
}

// CreateAPIKey implements web.Backend; the key acts as owner.
func (b *Backend) CreateAPIKey(_ context.Context, req wire.CreateAPIKeyRequest, by admin.Principal) (wire.APIKey, error) {
	actor := by.Actor
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now().UTC()
	exp, err := expiryOf(req.Expiry, 0, now)
	if err != nil {
		return wire.APIKey{}, err
	}
	secret, prefix, err := newSecret("wak")
	if err != nil {
		return wire.APIKey{}, err
	}
	k := wire.APIKey{ID: int64(len(b.apiKeys) + 1), Prefix: prefix, Description: req.Description, CreatedAt: now,
		CreatedBy: actor, Expiry: exp}
	b.apiKeys = append(b.apiKeys, apiKey{APIKey: k, secret: secret, role: admin.RoleOwner})
	b.changedLocked(actor, "apikey.create", "apikey:"+prefix, map[string]any{"description": req.Description})
	k.Key = secret
	return k, nil
}

// ListAPIKeys implements web.Backend.
func (b *Backend) ListAPIKeys(context.Context) ([]wire.APIKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]wire.APIKey, len(b.apiKeys))
	for i, k := range b.apiKeys {
		out[i] = k.APIKey
	}
	return out, nil
}

// RevokeAPIKey implements web.Backend.
func (b *Backend) RevokeAPIKey(_ context.Context, id int64, actor string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id < 1 || id > int64(len(b.apiKeys)) {
		return fmt.Errorf("api key %d: %w", id, web.ErrNotFound)
	}
	b.apiKeys[id-1].Revoked = true
	b.changedLocked(actor, "apikey.revoke", fmt.Sprintf("apikey:%d", id), nil)
	return nil
}

// UseAuthKey counts a registration with pre-auth key id, as a node
// registering with it would; it does not count as a write.
func (b *Backend) UseAuthKey(id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id < 1 || id > int64(len(b.authKeys)) {
		return fmt.Errorf("auth key %d: %w", id, web.ErrNotFound)
	}
	b.authKeys[id-1].UseCount++
	return nil
}
