package store

import (
	"context"
	"time"
)

// RelayID identifies a registered relay.
type RelayID int64

// Relay is a standalone relay an admin registered. The store holds only
// its credential's hash and a short display prefix.
type Relay struct {
	// ID is assigned by the store.
	ID RelayID
	// Name is unique among relays.
	Name string
	// URL is where nodes reach the relay.
	URL string
	// STUN is where the relay answers STUN ("host:port"); may be empty.
	STUN string
	// Prefix is the first characters of the credential, for display.
	Prefix string
	// CreatedBy names who registered the relay, as an audit actor.
	CreatedBy string
	// CreatedAt is when it was registered.
	CreatedAt time.Time
}

// NewRelay describes a relay to register.
type NewRelay struct {
	// Name is required and unique (ErrDuplicate).
	Name string
	// URL is required.
	URL string
	// STUN may be empty.
	STUN string
	// Hash is the SHA-256 of the relay's credential; required and unique.
	Hash SecretHash
	// Prefix is the display prefix; required.
	Prefix string
	// CreatedBy names who registers it, as an audit actor.
	CreatedBy string
	// CreatedAt is zero for "now".
	CreatedAt time.Time
}

// Relays manages the registered standalone relays.
type Relays interface {
	// CreateRelay registers a relay; ErrDuplicate if its name or hash
	// exists.
	CreateRelay(ctx context.Context, r NewRelay) (Relay, error)
	// RelayByHash returns the relay whose credential has hash h, else an
	// error wrapping ErrNotFound.
	RelayByHash(ctx context.Context, h SecretHash) (Relay, error)
	// ListRelays returns every relay, ordered by ID.
	ListRelays(ctx context.Context) ([]Relay, error)
	// RemoveRelay deletes the relay named name; ErrNotFound if none is.
	RemoveRelay(ctx context.Context, name string) (Relay, error)
}
