package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AdminSession is one admin UI session as stored: Key is the SHA-256 of
// its cookie, Record the coordinator's encoding of the rest.
type AdminSession struct {
	Key     [32]byte
	User    string // the person's user reference; may be empty
	Email   string
	Record  []byte
	Expires time.Time
}

// AdminSessions keeps the admin UI's sessions for every coordinator on the
// database.
type AdminSessions interface {
	// PutAdminSession stores s, replacing one with its key, and drops the
	// sessions that expired by now.
	PutAdminSession(ctx context.Context, s AdminSession, now time.Time) error
	// AdminSession returns the session with key k if it has not expired
	// by now (ErrNotFound otherwise).
	AdminSession(ctx context.Context, k [32]byte, now time.Time) (AdminSession, error)
	// DeleteAdminSession ends the session with key k, if any.
	DeleteAdminSession(ctx context.Context, k [32]byte) error
	// DeleteAdminSessionsOf ends every session of user (or, when user is
	// empty, of email) and returns how many it ended.
	DeleteAdminSessionsOf(ctx context.Context, user, email string) (int, error)
}

// adminSessionTable implements AdminSessions.
type adminSessionTable struct{ db *db }

// PutAdminSession implements AdminSessions.
func (t adminSessionTable) PutAdminSession(ctx context.Context, s AdminSession, now time.Time) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires <= ?`, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_sessions (key, user_ref, email, record, expires)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET user_ref = excluded.user_ref,
			email = excluded.email, record = excluded.record, expires = excluded.expires`,
			s.Key[:], s.User, s.Email, string(s.Record), dbNow(s.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("put admin session: %w", err)
	}
	return nil
}

// AdminSession implements AdminSessions.
func (t adminSessionTable) AdminSession(ctx context.Context, k [32]byte, now time.Time) (AdminSession, error) {
	s := AdminSession{Key: k}
	var record string
	var exp int64
	err := t.db.r.QueryRowContext(ctx, `SELECT user_ref, email, record, expires FROM admin_sessions
		WHERE key = ? AND expires > ?`, k[:], now.UnixMicro()).Scan(&s.User, &s.Email, &record, &exp)
	if err != nil {
		return AdminSession{}, fmt.Errorf("get admin session: %w", notFound(err))
	}
	s.Record, s.Expires = []byte(record), time.UnixMicro(exp).UTC()
	return s, nil
}

// DeleteAdminSession implements AdminSessions.
func (t adminSessionTable) DeleteAdminSession(ctx context.Context, k [32]byte) error {
	err := t.db.execOne(ctx, `DELETE FROM admin_sessions WHERE key = ?`, k[:])
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete admin session: %w", err)
	}
	return nil
}

// DeleteAdminSessionsOf implements AdminSessions.
func (t adminSessionTable) DeleteAdminSessionsOf(ctx context.Context, user, email string) (int, error) {
	var n int64
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions
			WHERE (? <> '' AND user_ref = ?) OR (? = '' AND ? <> '' AND email = ?)`, user, user, user, email, email)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete admin sessions of %q: %w", user, err)
	}
	return int(n), nil
}
