package store

import (
	"context"
	"time"
)

// AuthKeyID identifies a pre-auth key.
type AuthKeyID int64

// AuthKey is a pre-auth key with which devices join unattended. The store
// holds only the secret's hash and a short display prefix.
type AuthKey struct {
	// ID is assigned by the store.
	ID AuthKeyID
	// Prefix is the first characters of the secret, shown to admins so they
	// can tell keys apart. Not secret.
	Prefix string
	// Tags owns the nodes that join with this key; empty when UserID is set.
	// Kept sorted and without duplicates.
	Tags []string
	// UserID owns the nodes that join with this key; 0 when Tags is set.
	UserID UserID
	// Reusable keys may register any number of nodes; others only one.
	Reusable bool
	// Ephemeral marks the nodes that join with this key as ephemeral.
	Ephemeral bool
	// Expiry is when the key stops working; zero means never.
	Expiry time.Time
	// CreatedBy names who made the key, as an audit actor ("user:alice@x").
	CreatedBy string
	// CreatorUserID is the person on whose authority the key acts (see
	// APIKey.CreatorUserID); zero for the system. The key registers no
	// node while this user is disabled or gone.
	CreatorUserID UserID
	// CreatedAt is when the key was made.
	CreatedAt time.Time
	// UseCount is how many nodes registered with the key.
	UseCount int
	// RevokedAt is when the key was revoked; zero if it was not.
	RevokedAt time.Time
	// RiskClass is the risk class of the nodes that join with the key;
	// empty for unclassified.
	RiskClass string
}

// NewAuthKey describes a pre-auth key to store. Exactly one of Tags and
// UserID must be set.
type NewAuthKey struct {
	// Hash is the SHA-256 of the secret; required and unique.
	Hash SecretHash
	// Prefix is the display prefix; required.
	Prefix string
	// Tags will own the nodes that join with the key; each non-empty.
	Tags []string
	// UserID will own the nodes that join with the key; the user must exist
	// and not be disabled.
	UserID UserID
	// Reusable and Ephemeral are as on AuthKey.
	Reusable  bool
	Ephemeral bool
	// Expiry is zero for a key that never expires.
	Expiry time.Time
	// CreatedBy names who makes the key, as an audit actor.
	CreatedBy string
	// CreatorUserID is as on AuthKey; zero for the system. The user must
	// exist and not be disabled.
	CreatorUserID UserID
	// CreatedAt is zero for "now".
	CreatedAt time.Time
	// RiskClass is as on AuthKey; empty or a class name.
	RiskClass string
}

// AuthKeys manages pre-auth keys for the admin API. Registration consumes
// them (see Registration).
type AuthKeys interface {
	// CreateAuthKey stores a new key; ErrDuplicate if the hash exists.
	CreateAuthKey(ctx context.Context, k NewAuthKey) (AuthKey, error)
	// AuthKey returns the key with the given ID (ErrNotFound).
	AuthKey(ctx context.Context, id AuthKeyID) (AuthKey, error)
	// ListAuthKeys returns every key, ordered by ID.
	ListAuthKeys(ctx context.Context) ([]AuthKey, error)
	// RevokeAuthKey revokes the key as of now. Revoking a revoked key keeps
	// the first revocation time.
	RevokeAuthKey(ctx context.Context, id AuthKeyID, now time.Time) error
}
