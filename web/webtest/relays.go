package webtest

import (
	"context"
	"fmt"
	"slices"

	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// CreateRelay implements web.Backend.
func (b *Backend) CreateRelay(_ context.Context, req wire.CreateRelayRequest, actor string) (wire.AdminRelay, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if req.Name == "" || req.URL == "" {
		return wire.AdminRelay{}, fmt.Errorf("relay name and url are required: %w", web.ErrBadRequest)
	}
	if slices.ContainsFunc(b.relays, func(r wire.AdminRelay) bool { return r.Name == req.Name }) {
		return wire.AdminRelay{}, fmt.Errorf("relay %s: %w", req.Name, web.ErrConflict)
	}
	secret, prefix, err := newSecret("wrl")
	if err != nil {
		return wire.AdminRelay{}, err
	}
	r := wire.AdminRelay{ID: int64(len(b.relays) + 1), Name: req.Name, URL: req.URL, Prefix: prefix, CreatedAt: b.now(), CreatedBy: actor}
	b.relays = append(b.relays, r)
	b.changedLocked(actor, "relay.create", "relay:"+req.Name, map[string]any{"url": req.URL})
	r.Secret = secret
	return r, nil
}

// ListRelays implements web.Backend.
func (b *Backend) ListRelays(context.Context) ([]wire.AdminRelay, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.relays), nil
}

// RemoveRelay implements web.Backend.
func (b *Backend) RemoveRelay(_ context.Context, name, actor string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.relays, func(r wire.AdminRelay) bool { return r.Name == name })
	if i < 0 {
		return fmt.Errorf("relay %s: %w", name, web.ErrNotFound)
	}
	b.relays = slices.Delete(b.relays, i, i+1)
	b.changedLocked(actor, "relay.remove", "relay:"+name, nil)
	return nil
}
