package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is; the store wraps them
// with context, so the message names the operation and the record.
var (
	// ErrNotFound reports that the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid reports input that breaks a rule of the store (an empty
	// name, a zero key, a node with both a user and tags). Nothing was
	// changed.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict reports that an optimistic-concurrency check failed: the
	// record changed since the caller read it.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate reports that another record already has a value that
	// must be unique: a secret hash, or a node's WireGuard key.
	ErrDuplicate = errors.New("duplicate")

	// ErrMachineExists reports that a node with this machine key is already
	// registered. The caller decides whether to reauthenticate it.
	ErrMachineExists = errors.New("machine key already registered")
	// ErrNameTaken reports that another node already has the requested name.
	ErrNameTaken = errors.New("node name taken")
	// ErrAddressesExhausted reports that no overlay address is free.
	ErrAddressesExhausted = errors.New("overlay addresses exhausted")

	// ErrAuthKeyNotFound reports that no pre-auth key has the given hash.
	// It matches ErrNotFound too.
	ErrAuthKeyNotFound = fmt.Errorf("auth key %w", ErrNotFound)
	// ErrAuthKeyExpired reports that the pre-auth key's expiry has passed.
	ErrAuthKeyExpired = errors.New("auth key expired")
	// ErrAuthKeyRevoked reports that the pre-auth key was revoked.
	ErrAuthKeyRevoked = errors.New("auth key revoked")
	// ErrAuthKeyUsed reports that a single-use pre-auth key was already used.
	ErrAuthKeyUsed = errors.New("single-use auth key already used")

	// ErrKeyCreatorDisabled reports that the person on whose authority a
	// pre-auth key or API key acts (its CreatorUserID) is disabled or no
	// longer exists: the key does nothing until they are enabled again.
	ErrKeyCreatorDisabled = errors.New("the person who made the key is disabled or gone")

	// ErrAPIKeyNotFound reports that no API key has the given hash. It
	// matches ErrNotFound too.
	ErrAPIKeyNotFound = fmt.Errorf("api key %w", ErrNotFound)
	// ErrAPIKeyExpired reports that the API key's expiry has passed.
	ErrAPIKeyExpired = errors.New("api key expired")
	// ErrAPIKeyRevoked reports that the API key was revoked.
	ErrAPIKeyRevoked = errors.New("api key revoked")

	// ErrRotationRefused reports that the node may not replace its key the
	// way asked (see RotationRule): checked in the write's transaction, so
	// a revocation that lands while a rotation is under way wins.
	ErrRotationRefused = errors.New("key rotation refused")
	// ErrAuthKeyBeforeRevocation reports that a pre-auth key made before an
	// admin revoked the node's key cannot bring that node back.
	ErrAuthKeyBeforeRevocation = errors.New("auth key made before the node's key was revoked")

	// ErrUserDisabled reports that the user is disabled and may not register
	// nodes.
	ErrUserDisabled = errors.New("user disabled")
	// ErrEmailBound reports that the email is already bound to another
	// user (another issuer and subject). An admin decides with
	// RebindEmail; until then the other subject may not take it.
	ErrEmailBound = errors.New("email bound to another user")

	// ErrUnavailable reports that the database cannot serve the request
	// now (closed, busy, disk full, I/O error): a fault of the store, not a
	// refusal of the request. Unavailable also recognizes the SQLite
	// driver's errors of that kind, which the store does not always wrap.
	ErrUnavailable = errors.New("storage unavailable")

	// ErrSchemaTooNew reports a database migrated by a newer Ward than this
	// binary; opening it could corrupt data, so Open refuses.
	ErrSchemaTooNew = errors.New("database schema newer than this binary")
	// ErrPrefixChanged reports that Open was given an IPv6 prefix other than
	// the one the database's addresses were allocated from.
	ErrPrefixChanged = errors.New("ipv6 prefix differs from the database's")
)
