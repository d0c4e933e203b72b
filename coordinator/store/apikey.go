package store

import (
	"context"
	"time"
)

// APIKeyID identifies an API key.
type APIKeyID int64

// APIKey authenticates a program using the admin HTTP API. The store holds
// only the secret's hash and a short display prefix.
type APIKey struct {
	// ID is assigned by the store.
	ID APIKeyID
	// Prefix is the first characters of the secret, for display. Not secret.
	Prefix string
	// Description says what the key is for; may be empty.
	Description string
	// CreatedBy names who made the key, as an audit actor.
	CreatedBy string
	// CreatedAt is when the key was made.
	CreatedAt time.Time
	// Expiry is when the key stops working; zero means never.
	Expiry time.Time
	// LastUsed is when the key last authenticated a request; zero if never.
	LastUsed time.Time
	// RevokedAt is when the key was revoked; zero if it was not.
	RevokedAt time.Time
}

// NewAPIKey describes an API key to store.
type NewAPIKey struct {
	// Hash is the SHA-256 of the secret; required and unique.
	Hash SecretHash
	// Prefix is the display prefix; required.
	Prefix string
	// Description says what the key is for; may be empty.
	Description string
	// CreatedBy names who makes the key, as an audit actor.
	CreatedBy string
	// Expiry is zero for a key that never expires.
	Expiry time.Time
	// CreatedAt is zero for "now".
	CreatedAt time.Time
}

// APIKeys manages API keys; the HTTP API's authentication looks them up.
type APIKeys interface {
	// CreateAPIKey stores a new key; ErrDuplicate if the hash exists.
	CreateAPIKey(ctx context.Context, k NewAPIKey) (APIKey, error)
	// APIKeyByHash returns the key with the given hash if it is usable as
	// of now, else ErrAPIKeyNotFound, ErrAPIKeyRevoked or ErrAPIKeyExpired.
	APIKeyByHash(ctx context.Context, h SecretHash, now time.Time) (APIKey, error)
	// ListAPIKeys returns every key, ordered by ID.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes the key as of now (idempotent).
	RevokeAPIKey(ctx context.Context, id APIKeyID, now time.Time) error
	// TouchAPIKey records that the key was used at now.
	TouchAPIKey(ctx context.Context, id APIKeyID, now time.Time) error
}
