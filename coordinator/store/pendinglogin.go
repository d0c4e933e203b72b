package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChangeLogin: a person's device login ended on another coordinator (its
// result was set); a node waiting for one reads its login again.
const ChangeLogin ChangeKind = "login"

// Refusals of AddPendingLogin.
var (
	// ErrPendingSourceFull: the source holds PendingLoginLimits.PerSource
	// logins already.
	ErrPendingSourceFull = errors.New("too many pending logins from this source")
	// ErrPendingFull: the table holds PendingLoginLimits.Size logins and
	// none of them is unopened.
	ErrPendingFull = errors.New("too many pending logins")
)

// PendingLogin is a person's device login in progress, as stored. Key is
// the SHA-256 of its id, Browser and CSRF the SHA-256 of the tokens of
// the browser that opened the link and of the confirmation form (zero
// until then); Record is the coordinator's encoding of the rest, Result
// the node's answer (empty until the login ended).
type PendingLogin struct {
	Key     [32]byte
	Machine MachinePublic
	// Source is the block of addresses the login is counted in.
	Source string
	// Step only moves forward (the coordinator's loginStep).
	Step    int
	Started time.Time
	Expires time.Time
	Browser [32]byte
	CSRF    [32]byte
	Record  []byte
	Result  []byte
}

// PendingLoginLimits bound the pending logins: PerSource per source,
// Size in all.
type PendingLoginLimits struct{ PerSource, Size int }

// PendingLogins keeps people's device logins in progress for every
// coordinator on the database.
type PendingLogins interface {
	// AddPendingLogin stores p, a new login at step 0 (unopened), within
	// lim: it drops the logins expired by now and p's machine's unopened
	// ones; it refuses with ErrPendingSourceFull when p's source holds
	// lim.PerSource; when the table holds lim.Size, it drops the oldest
	// unopened login of the source holding the most, or refuses with
	// ErrPendingFull when no login is unopened. One transaction.
	AddPendingLogin(ctx context.Context, p PendingLogin, lim PendingLoginLimits, now time.Time) error
	// PendingLogin returns the login with key k unless it expired by now
	// (ErrNotFound).
	PendingLogin(ctx context.Context, k [32]byte, now time.Time) (PendingLogin, error)
	// AdvancePendingLogin stores p's Step, Browser, CSRF and Record if
	// the stored login is still at step from and has not expired by now,
	// and ErrConflict otherwise (another step got there first): each step
	// happens once, on whichever coordinator.
	AdvancePendingLogin(ctx context.Context, p PendingLogin, from int, now time.Time) error
	// FinishPendingLogin sets login k's result and step once and reports
	// whether this call did (false: it had ended already, or is gone).
	FinishPendingLogin(ctx context.Context, k [32]byte, step int, result []byte) (bool, error)
	// CountPendingLogins returns how many logins are stored (expired ones
	// included until the next add drops them).
	CountPendingLogins(ctx context.Context) (int, error)
	// UseChallenge records a control-session challenge's nonce as used
	// until expires and reports whether it was new: false means it was
	// presented before (a replay). It drops the nonces expired by now.
	UseChallenge(ctx context.Context, nonce []byte, expires, now time.Time) (bool, error)
}

// pendingLoginTable implements PendingLogins.
type pendingLoginTable struct{ db *db }

// AddPendingLogin implements PendingLogins.
func (t pendingLoginTable) AddPendingLogin(ctx context.Context, p PendingLogin, lim PendingLoginLimits, now time.Time) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins WHERE expires < ? OR (machine = ? AND step = 0)`,
			now.UnixMicro(), p.Machine[:]); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pending_logins WHERE source = ?`, p.Source).Scan(&n); err != nil {
			return err
		}
		if n >= lim.PerSource {
			return ErrPendingSourceFull
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pending_logins`).Scan(&n); err != nil {
			return err
		}
		if n >= lim.Size {
			var victim []byte
			err := tx.QueryRowContext(ctx, `SELECT p.key FROM pending_logins p
				JOIN (SELECT source, count(*) AS n FROM pending_logins GROUP BY source) c ON c.source = p.source
				WHERE p.step = 0 ORDER BY c.n DESC, p.started, p.key LIMIT 1`).Scan(&victim)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrPendingFull
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM pending_logins WHERE key = ?`, victim); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pending_logins (key, machine, source, step, started, expires, browser, csrf, record)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.Key[:], p.Machine[:], p.Source, p.Step, dbNow(p.Started), dbNow(p.Expires),
			p.Browser[:], p.CSRF[:], string(p.Record))
		return err
	})
	if err != nil {
		return fmt.Errorf("add pending login: %w", err)
	}
	return nil
}

// PendingLogin implements PendingLogins.
func (t pendingLoginTable) PendingLogin(ctx context.Context, k [32]byte, now time.Time) (PendingLogin, error) {
	p := PendingLogin{Key: k}
	var machine, browser, csrf []byte
	var record, result string
	var started, expires int64
	err := t.db.r.QueryRowContext(ctx, `SELECT machine, source, step, started, expires, browser, csrf, record, result
		FROM pending_logins WHERE key = ? AND expires >= ?`, k[:], now.UnixMicro()).Scan(&machine, &p.Source, &p.Step,
		&started, &expires, &browser, &csrf, &record, &result)
	if err != nil {
		return PendingLogin{}, fmt.Errorf("get pending login: %w", notFound(err))
	}
	copy(p.Machine[:], machine)
	copy(p.Browser[:], browser)
	copy(p.CSRF[:], csrf)
	p.Started, p.Expires = time.UnixMicro(started).UTC(), time.UnixMicro(expires).UTC()
	p.Record = []byte(record)
	if result != "" {
		p.Result = []byte(result)
	}
	return p, nil
}

// AdvancePendingLogin implements PendingLogins.
func (t pendingLoginTable) AdvancePendingLogin(ctx context.Context, p PendingLogin, from int, now time.Time) error {
	err := t.db.execOne(ctx, `UPDATE pending_logins SET step = ?, browser = ?, csrf = ?, record = ?
		WHERE key = ? AND step = ? AND expires >= ? AND result = ''`, p.Step, p.Browser[:], p.CSRF[:], string(p.Record),
		p.Key[:], from, now.UnixMicro())
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("advance pending login: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("advance pending login: %w", err)
	}
	return nil
}

// FinishPendingLogin implements PendingLogins.
func (t pendingLoginTable) FinishPendingLogin(ctx context.Context, k [32]byte, step int, result []byte) (bool, error) {
	if len(result) == 0 {
		return false, fmt.Errorf("finish pending login: empty result: %w", ErrInvalid)
	}
	err := t.db.execOne(ctx, `UPDATE pending_logins SET step = ?, result = ? WHERE key = ? AND result = ''`,
		step, string(result), k[:])
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finish pending login: %w", err)
	}
	return true, nil
}

// CountPendingLogins implements PendingLogins.
func (t pendingLoginTable) CountPendingLogins(ctx context.Context) (int, error) {
	var n int
	if err := t.db.r.QueryRowContext(ctx, `SELECT count(*) FROM pending_logins`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending logins: %w", err)
	}
	return n, nil
}

// UseChallenge implements PendingLogins.
func (t pendingLoginTable) UseChallenge(ctx context.Context, nonce []byte, expires, now time.Time) (bool, error) {
	var fresh bool
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM used_challenges WHERE expires < ?`, now.UnixMicro()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO used_challenges (nonce, expires) VALUES (?, ?)
			ON CONFLICT (nonce) DO NOTHING`, nonce, dbNow(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use challenge: %w", err)
	}
	return fresh, nil
}
