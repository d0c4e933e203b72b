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

// userTable implements Users on SQLite.
type userTable struct{ db *db }

// userCols are the columns scanUser reads, in order.
const userCols = `id, issuer, subject, email, display_name, groups_json, disabled,
	created_at, last_login, auth_time, mfa_time`

// scanUser reads one row of userCols.
func scanUser(sc scanner) (User, error) {
	var u User
	var groups string
	var created, login, auth, mfa sql.NullInt64
	err := sc.Scan(&u.ID, &u.Issuer, &u.Subject, &u.Email, &u.DisplayName, &groups,
		&u.Disabled, &created, &login, &auth, &mfa)
	if err != nil {
		return User{}, err
	}
	u.CreatedAt, u.LastLogin = goTime(created), goTime(login)
	u.AuthTime, u.MFATime = goTime(auth), goTime(mfa)
	u.Groups, err = decodeStrings(groups)
	return u, err
}

// userWhere returns the one user matching where.
func userWhere(ctx context.Context, q querier, where string, args ...any) (User, error) {
	row := q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE "+where, args...)
	u, err := scanUser(row)
	return u, notFound(err)
}

// UpsertUser implements Users.
func (t userTable) UpsertUser(ctx context.Context, id Identity, now time.Time) (User, error) {
	if id.Issuer == "" || id.Subject == "" {
		return User{}, fmt.Errorf("upsert user: %w: empty issuer or subject", ErrInvalid)
	}
	var u User
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if err := emailFree(ctx, tx, id.Email, id.Issuer, id.Subject); err != nil {
			return err
		}
		at := dbNow(now)
		var mfa any
		if id.MFA {
			mfa = dbTime(id.AuthTime)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (issuer, subject, email, display_name,
			groups_json, created_at, last_login, auth_time, mfa_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email,
			display_name = excluded.display_name, groups_json = excluded.groups_json,
			last_login = excluded.last_login, auth_time = coalesce(excluded.auth_time, users.auth_time),
			mfa_time = coalesce(excluded.mfa_time, users.mfa_time)`,
			id.Issuer, id.Subject, id.Email, id.DisplayName, encodeSet(id.Groups), at, at, dbTime(id.AuthTime), mfa)
		if err != nil {
			return err
		}
		u, err = userWhere(ctx, tx, "issuer = ? AND subject = ?", id.Issuer, id.Subject)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("upsert user %s %s: %w", id.Issuer, id.Subject, err)
	}
	return u, nil
}

// User implements Users.
func (t userTable) User(ctx context.Context, id UserID) (User, error) {
	u, err := userWhere(ctx, t.db.r, "id = ?", id)
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// UserBySubject implements Users.
func (t userTable) UserBySubject(ctx context.Context, issuer, subject string) (User, error) {
	u, err := userWhere(ctx, t.db.r, "issuer = ? AND subject = ?", issuer, subject)
	if err != nil {
		return User{}, fmt.Errorf("get user %s %s: %w", issuer, subject, err)
	}
	return u, nil
}

// ListUsers implements Users.
func (t userTable) ListUsers(ctx context.Context) ([]User, error) {
	users, err := queryAll(ctx, t.db.r, scanUser, "SELECT "+userCols+" FROM users ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// SetUserDisabled implements Users.
func (t userTable) SetUserDisabled(ctx context.Context, id UserID, disabled bool) error {
	err := t.db.execOne(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, id)
	if err != nil {
		return fmt.Errorf("set user %d disabled=%t: %w", id, disabled, err)
	}
	return nil
}

// emailFree returns ErrEmailBound when a user other than issuer+subject
// has the non-empty email.
func emailFree(ctx context.Context, tx *sql.Tx, email, issuer, subject string) error {
	if email == "" {
		return nil
	}
	var other UserID
	err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE lower(email) = lower(?)
		AND NOT (issuer = ? AND subject = ?) ORDER BY id LIMIT 1`, email, issuer, subject).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: %q belongs to user %d", ErrEmailBound, email, other)
}

// UsersByEmail implements Users.
func (t userTable) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	users, err := queryAll(ctx, t.db.r, scanUser, "SELECT "+userCols+" FROM users WHERE lower(email) = lower(?) ORDER BY id", email)
	if err != nil {
		return nil, fmt.Errorf("users by email %q: %w", email, err)
	}
	return users, nil
}

// RebindEmail implements Users.
func (t userTable) RebindEmail(ctx context.Context, email, issuer, subject string, now time.Time, check UserCheck) ([]User, User, error) {
	if email == "" || issuer == "" || subject == "" {
		return nil, User{}, fmt.Errorf("rebind email: %w: empty email, issuer or subject", ErrInvalid)
	}
	var unbound []User
	var to User
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		unbound, err = queryAll(ctx, tx, scanUser, "SELECT "+userCols+` FROM users WHERE lower(email) = lower(?)
			AND NOT (issuer = ? AND subject = ?) ORDER BY id`, email, issuer, subject)
		if err != nil {
			return err
		}
		if err := checkRebind(ctx, tx, check, unbound, email, issuer, subject); err != nil {
			return err
		}
		for i := range unbound {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET email = '', disabled = TRUE WHERE id = ?`, unbound[i].ID); err != nil {
				return err
			}
			unbound[i].Email, unbound[i].Disabled = "", true
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO users (issuer, subject, email, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email`, issuer, subject, email, dbNow(now))
		if err != nil {
			return err
		}
		to, err = userWhere(ctx, tx, "issuer = ? AND subject = ?", issuer, subject)
		return err
	})
	if err != nil {
		return nil, User{}, fmt.Errorf("rebind email %q to %s %s: %w", email, issuer, subject, err)
	}
	return unbound, to, nil
}

// checkRebind runs check (when not nil) on the users a rebind of email to
// issuer+subject changes: unbound as they are, the user issuer+subject as
// it is (when it exists) and as it will be.
func checkRebind(ctx context.Context, tx *sql.Tx, check UserCheck, unbound []User, email, issuer, subject string) error {
	if check == nil {
		return nil
	}
	users := slices.Clone(unbound)
	after := User{Issuer: issuer, Subject: subject}
	before, err := userWhere(ctx, tx, "issuer = ? AND subject = ?", issuer, subject)
	switch {
	case err == nil:
		users, after = append(users, before), before
	case !errors.Is(err, ErrNotFound):
		return err
	}
	after.Email = email
	return check(append(users, after))
}

// maxConflictsNamed bounds the users an issuer migration's conflict names.
const maxConflictsNamed = 10

// MigrateIssuer implements Users.
func (t userTable) MigrateIssuer(ctx context.Context, from, to string, dryRun bool, check UserCheck) ([]User, error) {
	if from == "" || to == "" || from == to {
		return nil, fmt.Errorf("migrate issuer: %w: from and to must be two issuers", ErrInvalid)
	}
	var moved []User
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if err := issuerFree(ctx, tx, from, to); err != nil {
			return err
		}
		var err error
		if moved, err = queryAll(ctx, tx, scanUser, "SELECT "+userCols+" FROM users WHERE issuer = ? ORDER BY id", from); err != nil {
			return err
		}
		if check != nil {
			if err := check(slices.Clone(moved)); err != nil {
				return err
			}
		}
		for i := range moved {
			moved[i].Issuer = to
		}
		if dryRun {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET issuer = ? WHERE issuer = ?`, to, from)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate users from issuer %s to %s: %w", from, to, err)
	}
	return moved, nil
}

// issuerFree returns ErrConflict, naming them, when users of issuer to
// have the subject of a user of issuer from.
func issuerFree(ctx context.Context, tx *sql.Tx, from, to string) error {
	clash, err := queryAll(ctx, tx, scanUser, "SELECT "+userCols+` FROM users WHERE issuer = ?
		AND subject IN (SELECT subject FROM users WHERE issuer = ?) ORDER BY id`, to, from)
	if err != nil || len(clash) == 0 {
		return err
	}
	var names []string
	for _, u := range clash[:min(len(clash), maxConflictsNamed)] {
		names = append(names, fmt.Sprintf("user %d (%s, subject %q)", u.ID, u.Email, u.Subject))
	}
	more := ""
	if len(clash) > maxConflictsNamed {
		more = fmt.Sprintf(" and %d more", len(clash)-maxConflictsNamed)
	}
	return fmt.Errorf("%w: %d people already have a user of the new issuer (they logged in through it): %s%s",
		ErrConflict, len(clash), strings.Join(names, ", "), more)
}
