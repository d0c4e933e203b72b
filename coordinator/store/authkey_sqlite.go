package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// authKeyTable implements AuthKeys on SQLite.
type authKeyTable struct{ db *db }

// authKeyCols are the columns scanAuthKey reads, in order.
const authKeyCols = `id, prefix, tags_json, user_id, reusable, ephemeral, expiry,
	created_by, creator_user_id, created_at, use_count, revoked_at, risk_class`

// scanAuthKey reads one row of authKeyCols.
func scanAuthKey(sc scanner) (AuthKey, error) {
	var k AuthKey
	var tags string
	var user, creator, expiry, created, revoked sql.NullInt64
	err := sc.Scan(&k.ID, &k.Prefix, &tags, &user, &k.Reusable, &k.Ephemeral, &expiry,
		&k.CreatedBy, &creator, &created, &k.UseCount, &revoked, &k.RiskClass)
	if err != nil {
		return AuthKey{}, err
	}
	k.UserID, k.CreatorUserID = UserID(user.Int64), UserID(creator.Int64)
	k.Expiry, k.CreatedAt, k.RevokedAt = goTime(expiry), goTime(created), goTime(revoked)
	k.Tags, err = decodeStrings(tags)
	return k, err
}

// authKeyWhere returns the one pre-auth key matching where.
func authKeyWhere(ctx context.Context, q querier, where string, args ...any) (AuthKey, error) {
	row := q.QueryRowContext(ctx, "SELECT "+authKeyCols+" FROM auth_keys WHERE "+where, args...)
	k, err := scanAuthKey(row)
	return k, notFound(err)
}

// CreateAuthKey implements AuthKeys.
func (t authKeyTable) CreateAuthKey(ctx context.Context, nk NewAuthKey) (AuthKey, error) {
	var k AuthKey
	if err := checkNewAuthKey(nk); err != nil {
		return AuthKey{}, fmt.Errorf("create auth key: %w", err)
	}
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = insertAuthKey(ctx, tx, nk)
		return err
	})
	if err != nil {
		return AuthKey{}, fmt.Errorf("create auth key %q: %w", nk.Prefix, err)
	}
	return k, nil
}

// checkNewAuthKey validates a key to create.
func checkNewAuthKey(nk NewAuthKey) error {
	switch {
	case nk.Hash.IsZero():
		return fmt.Errorf("%w: zero hash", ErrInvalid)
	case nk.Prefix == "":
		return fmt.Errorf("%w: empty prefix", ErrInvalid)
	}
	if err := checkRiskClass(nk.RiskClass); err != nil {
		return err
	}
	return checkOwner(nk.UserID, nk.Tags)
}

// insertAuthKey inserts the key after checking its user and its creator,
// and returns it.
func insertAuthKey(ctx context.Context, tx *sql.Tx, nk NewAuthKey) (AuthKey, error) {
	if err := userActive(ctx, tx, nk.UserID); err != nil {
		return AuthKey{}, err
	}
	if err := userActive(ctx, tx, nk.CreatorUserID); err != nil {
		return AuthKey{}, fmt.Errorf("creator: %w", err)
	}
	id, err := insertID(ctx, tx, `INSERT INTO auth_keys (hash, prefix, tags_json, user_id,
		reusable, ephemeral, expiry, created_by, creator_user_id, created_at, risk_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nk.Hash[:], nk.Prefix, encodeSet(nk.Tags), dbID(nk.UserID), nk.Reusable, nk.Ephemeral,
		dbTime(nk.Expiry), nk.CreatedBy, dbID(nk.CreatorUserID), dbNow(nk.CreatedAt), nk.RiskClass)
	if isUniqueViolation(err) {
		return AuthKey{}, fmt.Errorf("%w: auth key hash exists", ErrDuplicate)
	}
	if err != nil {
		return AuthKey{}, err
	}
	return authKeyWhere(ctx, tx, "id = ?", id)
}

// AuthKey implements AuthKeys.
func (t authKeyTable) AuthKey(ctx context.Context, id AuthKeyID) (AuthKey, error) {
	k, err := authKeyWhere(ctx, t.db.r, "id = ?", id)
	if err != nil {
		return AuthKey{}, fmt.Errorf("get auth key %d: %w", id, err)
	}
	return k, nil
}

// ListAuthKeys implements AuthKeys.
func (t authKeyTable) ListAuthKeys(ctx context.Context) ([]AuthKey, error) {
	keys, err := queryAll(ctx, t.db.r, scanAuthKey, "SELECT "+authKeyCols+" FROM auth_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list auth keys: %w", err)
	}
	return keys, nil
}

// RevokeAuthKey implements AuthKeys.
func (t authKeyTable) RevokeAuthKey(ctx context.Context, id AuthKeyID, now time.Time) error {
	err := t.db.execOne(ctx, `UPDATE auth_keys SET revoked_at = coalesce(revoked_at, ?)
		WHERE id = ?`, dbNow(now), id)
	if err != nil {
		return fmt.Errorf("revoke auth key %d: %w", id, err)
	}
	return nil
}
