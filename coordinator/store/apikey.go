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
	// CreatorUserID is the person on whose authority the key acts: who
	// made it in the admin UI, or the person behind the API key that made
	// it. Zero for a key of the system (the bootstrap key and keys made
	// with it). The coordinator refuses the key while this user is
	// disabled or gone.
	CreatorUserID UserID
	// CreatedAt is when the key was made.
	CreatedAt time.Time
	// Expiry is when the key stops working; zero means never.
	Expiry time.Time
	// LastUsed is when the key last authenticated a request; zero if never.
	LastUsed time.Time
	// RevokedAt is when the key was revoked; zero if it was not.
	RevokedAt time.Time
	// Scopes narrow what the key may do (admin.ScopeRead ...); never
	// empty: keys made before scopes existed have "admin".
	Scopes []string
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
	// CreatorUserID is as on APIKey; zero for the system. The user must
	// exist and not be disabled.
	CreatorUserID UserID
	// Expiry is zero for a key that never expires.
	Expiry time.Time
	// CreatedAt is zero for "now".
	CreatedAt time.Time
	// Scopes are the key's scopes; required (the coordinator validates
	// them), no comma inside one.
	Scopes []string
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
