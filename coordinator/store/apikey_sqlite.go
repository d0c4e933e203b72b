package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// apiKeyTable implements APIKeys on SQLite.
type apiKeyTable struct{ db *db }

// apiKeyCols are the columns scanAPIKey reads, in order.
const apiKeyCols = `id, prefix, description, created_by, creator_user_id, created_at, expiry, last_used, revoked_at, scopes`

// scanAPIKey reads one row of apiKeyCols.
func scanAPIKey(sc scanner) (APIKey, error) {
	var k APIKey
	var creator, created, expiry, used, revoked sql.NullInt64
	var scopes string
	err := sc.Scan(&k.ID, &k.Prefix, &k.Description, &k.CreatedBy, &creator, &created, &expiry, &used, &revoked, &scopes)
	if err != nil {
		return APIKey{}, err
	}
	k.CreatorUserID = UserID(creator.Int64)
	k.CreatedAt, k.Expiry = goTime(created), goTime(expiry)
	k.LastUsed, k.RevokedAt = goTime(used), goTime(revoked)
	k.Scopes = strings.Split(scopes, ",")
	return k, nil
}

// apiKeyWhere returns the one API key matching where.
func apiKeyWhere(ctx context.Context, q querier, where string, args ...any) (APIKey, error) {
	row := q.QueryRowContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE "+where, args...)
	k, err := scanAPIKey(row)
	return k, notFound(err)
}

// CreateAPIKey implements APIKeys.
func (t apiKeyTable) CreateAPIKey(ctx context.Context, nk NewAPIKey) (APIKey, error) {
	var k APIKey
	err := checkNewAPIKey(nk)
	if err == nil {
		err = t.db.write(ctx, func(tx *sql.Tx) error {
			var err error
			k, err = insertAPIKey(ctx, tx, nk)
			return err
		})
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key %q: %w", nk.Prefix, err)
	}
	return k, nil
}

// checkNewAPIKey validates a key to create.
func checkNewAPIKey(nk NewAPIKey) error {
	switch {
	case nk.Hash.IsZero():
		return fmt.Errorf("%w: zero hash", ErrInvalid)
	case nk.Prefix == "":
		return fmt.Errorf("%w: empty prefix", ErrInvalid)
	case len(nk.Scopes) == 0 || slices.ContainsFunc(nk.Scopes, func(s string) bool { return s == "" || strings.Contains(s, ",") }):
		return fmt.Errorf("%w: scopes %q", ErrInvalid, nk.Scopes)
	}
	return nil
}

// insertAPIKey inserts the key after checking its creator, and returns it.
func insertAPIKey(ctx context.Context, tx *sql.Tx, nk NewAPIKey) (APIKey, error) {
	if err := userActive(ctx, tx, nk.CreatorUserID); err != nil {
		return APIKey{}, fmt.Errorf("creator: %w", err)
	}
	id, err := insertID(ctx, tx, `INSERT INTO api_keys (hash, prefix, description,
		created_by, creator_user_id, created_at, expiry, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		nk.Hash[:], nk.Prefix, nk.Description, nk.CreatedBy, dbID(nk.CreatorUserID), dbNow(nk.CreatedAt), dbTime(nk.Expiry),
		strings.Join(nk.Scopes, ","))
	if isUniqueViolation(err) {
		return APIKey{}, fmt.Errorf("%w: api key hash exists", ErrDuplicate)
	}
	if err != nil {
		return APIKey{}, err
	}
	return apiKeyWhere(ctx, tx, "id = ?", id)
}

// APIKeyByHash implements APIKeys.
func (t apiKeyTable) APIKeyByHash(ctx context.Context, h SecretHash, now time.Time) (APIKey, error) {
	k, err := apiKeyWhere(ctx, t.db.r, "hash = ?", h[:])
	switch {
	case errors.Is(err, ErrNotFound):
		err = ErrAPIKeyNotFound
	case err != nil:
	case !k.RevokedAt.IsZero():
		err = ErrAPIKeyRevoked
	case !k.Expiry.IsZero() && !now.Before(k.Expiry):
		err = ErrAPIKeyExpired
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("look up api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements APIKeys.
func (t apiKeyTable) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	keys, err := queryAll(ctx, t.db.r, scanAPIKey, "SELECT "+apiKeyCols+" FROM api_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey implements APIKeys.
func (t apiKeyTable) RevokeAPIKey(ctx context.Context, id APIKeyID, now time.Time) error {
	err := t.db.execOne(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
		WHERE id = ?`, dbNow(now), id)
	if err != nil {
		return fmt.Errorf("revoke api key %d: %w", id, err)
	}
	return nil
}

// TouchAPIKey implements APIKeys.
func (t apiKeyTable) TouchAPIKey(ctx context.Context, id APIKeyID, now time.Time) error {
	err := t.db.execOne(ctx, `UPDATE api_keys SET last_used = ? WHERE id = ?`, dbNow(now), id)
	if err != nil {
		return fmt.Errorf("touch api key %d: %w", id, err)
	}
	return nil
}
