package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RefreshTokens keeps each person's latest IdP refresh token, sealed by the
// caller: the store never sees a usable token, only bytes it compares.
type RefreshTokens interface {
	// PutRefreshToken keeps sealed as the token of the person issuer and
	// subject name, replacing any.
	PutRefreshToken(ctx context.Context, issuer, subject string, sealed []byte, now time.Time) error
	// RefreshToken returns the person's sealed token (ErrNotFound: none).
	RefreshToken(ctx context.Context, issuer, subject string) ([]byte, error)
	// SwapRefreshToken replaces the person's token old by next, or drops
	// it when next is nil, unless another token replaced old meanwhile
	// (then it does nothing).
	SwapRefreshToken(ctx context.Context, issuer, subject string, old, next []byte, now time.Time) error
	// MoveRefreshTokens files the tokens of issuer from under issuer to,
	// after the users moved (Users.MigrateIssuer).
	MoveRefreshTokens(ctx context.Context, from, to string) error
}

// refreshTokenTable implements RefreshTokens.
type refreshTokenTable struct{ db *db }

// PutRefreshToken implements RefreshTokens.
func (t refreshTokenTable) PutRefreshToken(ctx context.Context, issuer, subject string, sealed []byte, now time.Time) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (issuer, subject, sealed, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (issuer, subject) DO UPDATE SET sealed = excluded.sealed,
			updated_at = excluded.updated_at`, issuer, subject, sealed, dbNow(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("put refresh token: %w", err)
	}
	return nil
}

// RefreshToken implements RefreshTokens.
func (t refreshTokenTable) RefreshToken(ctx context.Context, issuer, subject string) ([]byte, error) {
	var sealed []byte
	err := t.db.r.QueryRowContext(ctx, `SELECT sealed FROM refresh_tokens WHERE issuer = ? AND subject = ?`,
		issuer, subject).Scan(&sealed)
	if err != nil {
		return nil, fmt.Errorf("get refresh token: %w", notFound(err))
	}
	return sealed, nil
}

// SwapRefreshToken implements RefreshTokens.
func (t refreshTokenTable) SwapRefreshToken(ctx context.Context, issuer, subject string, old, next []byte, now time.Time) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if next == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE issuer = ? AND subject = ? AND sealed = ?`,
				issuer, subject, old)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET sealed = ?, updated_at = ?
				WHERE issuer = ? AND subject = ? AND sealed = ?`, next, dbNow(now), issuer, subject, old)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("swap refresh token: %w", err)
	}
	return nil
}

// MoveRefreshTokens implements RefreshTokens.
func (t refreshTokenTable) MoveRefreshTokens(ctx context.Context, from, to string) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE issuer = ?
			AND subject IN (SELECT subject FROM refresh_tokens WHERE issuer = ?)`, to, from); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET issuer = ? WHERE issuer = ?`, to, from)
		return err
	})
	if err != nil {
		return fmt.Errorf("move refresh tokens from %s to %s: %w", from, to, err)
	}
	return nil
}
