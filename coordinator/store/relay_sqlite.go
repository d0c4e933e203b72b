package store

import (
	"context"
	"database/sql"
	"fmt"
)

// relayTable implements Relays on SQLite.
type relayTable struct{ db *db }

// relayCols are the columns scanRelay reads, in order.
const relayCols = `id, name, url, stun, prefix, created_by, created_at`

// scanRelay reads one row of relayCols.
func scanRelay(sc scanner) (Relay, error) {
	var r Relay
	var created sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Name, &r.URL, &r.STUN, &r.Prefix, &r.CreatedBy, &created); err != nil {
		return Relay{}, err
	}
	r.CreatedAt = goTime(created)
	return r, nil
}

// relayWhere returns the one relay matching where.
func relayWhere(ctx context.Context, q querier, where string, args ...any) (Relay, error) {
	r, err := scanRelay(q.QueryRowContext(ctx, "SELECT "+relayCols+" FROM relays WHERE "+where, args...))
	return r, notFound(err)
}

// CreateRelay implements Relays.
func (t relayTable) CreateRelay(ctx context.Context, nr NewRelay) (Relay, error) {
	var r Relay
	err := checkNewRelay(nr)
	if err == nil {
		err = t.db.write(ctx, func(tx *sql.Tx) error {
			id, err := insertID(ctx, tx, `INSERT INTO relays (name, url, stun, hash, prefix, created_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, nr.Name, nr.URL, nr.STUN, nr.Hash[:], nr.Prefix, nr.CreatedBy, dbNow(nr.CreatedAt))
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: a relay of that name or credential exists", ErrDuplicate)
			}
			if err != nil {
				return err
			}
			r, err = relayWhere(ctx, tx, "id = ?", id)
			return err
		})
	}
	if err != nil {
		return Relay{}, fmt.Errorf("create relay %q: %w", nr.Name, err)
	}
	return r, nil
}

// checkNewRelay validates a relay to register.
func checkNewRelay(nr NewRelay) error {
	switch {
	case nr.Name == "" || nr.URL == "":
		return fmt.Errorf("%w: relay name and url are required", ErrInvalid)
	case nr.Hash.IsZero():
		return fmt.Errorf("%w: zero hash", ErrInvalid)
	case nr.Prefix == "":
		return fmt.Errorf("%w: empty prefix", ErrInvalid)
	}
	return nil
}

// RelayByHash implements Relays.
func (t relayTable) RelayByHash(ctx context.Context, h SecretHash) (Relay, error) {
	r, err := relayWhere(ctx, t.db.r, "hash = ?", h[:])
	if err != nil {
		return Relay{}, fmt.Errorf("look up relay: %w", err)
	}
	return r, nil
}

// ListRelays implements Relays.
func (t relayTable) ListRelays(ctx context.Context) ([]Relay, error) {
	rs, err := queryAll(ctx, t.db.r, scanRelay, "SELECT "+relayCols+" FROM relays ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list relays: %w", err)
	}
	return rs, nil
}

// RemoveRelay implements Relays.
func (t relayTable) RemoveRelay(ctx context.Context, name string) (Relay, error) {
	var r Relay
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = relayWhere(ctx, tx, "name = ?", name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM relays WHERE id = ?`, r.ID)
		return err
	})
	if err != nil {
		return Relay{}, fmt.Errorf("remove relay %q: %w", name, err)
	}
	return r, nil
}
