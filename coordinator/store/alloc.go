package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Address allocation hands out the lowest free index (see addr.go): not
// reserved, not used by a node, not quarantined. It keeps the invariant
// that every index below the cursor (meta addr_cursor) is reserved, used or
// in address_quarantine, so the lowest free index is either the lowest
// expired quarantine row or the first free index at or above the cursor.
// Both are found with a few indexed lookups, whatever the fleet size. Should
// the invariant not hold (a hand-edited database), a bounded probe gives up
// and a full ordered search over the used indices finds the answer.

// maxProbes bounds the point lookups from the cursor before the full search.
const maxProbes = 64

// errProbeGaveUp tells allocateAddr to fall back to the full search.
var errProbeGaveUp = errors.New("probe gave up")

// allocateAddr takes the lowest free address index as of now, within tx.
func allocateAddr(ctx context.Context, tx *sql.Tx, now time.Time) (uint32, error) {
	i, ok, err := takeExpiredQuarantine(ctx, tx, now)
	if err != nil || ok {
		return i, err
	}
	c, ok, err := metaInt(ctx, tx, metaAddrCursor)
	if err != nil {
		return 0, err
	}
	cursor := uint32(1)
	if ok {
		cursor = uint32(c)
	}
	i, err = probeFrom(ctx, tx, cursor)
	if errors.Is(err, errProbeGaveUp) {
		i, err = searchFree(ctx, tx)
	}
	if err != nil {
		return 0, fmt.Errorf("allocate address: %w", err)
	}
	if i >= cursor {
		err = setMeta(ctx, tx, metaAddrCursor, int64(i)+1)
	}
	return i, err
}

// takeExpiredQuarantine removes and returns the lowest quarantined index
// whose quarantine ended by now; ok is false when there is none.
func takeExpiredQuarantine(ctx context.Context, tx *sql.Tx, now time.Time) (i uint32, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT addr_index FROM address_quarantine
		WHERE reusable_after <= ? ORDER BY addr_index LIMIT 1`, now.UnixMicro()).Scan(&i)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find expired quarantine: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM address_quarantine WHERE addr_index = ?`, i); err != nil {
		return 0, false, fmt.Errorf("end quarantine: %w", err)
	}
	return i, true, nil
}

// probeFrom returns the first free index at or above from, looking at no
// more than maxProbes usable indices.
func probeFrom(ctx context.Context, tx *sql.Tx, from uint32) (uint32, error) {
	i := from
	for range maxProbes {
		if i = nextUsable(i); i >= v4Size {
			return 0, errProbeGaveUp
		}
		taken, err := indexTaken(ctx, tx, i)
		if err != nil || !taken {
			return i, err
		}
		i++
	}
	return 0, errProbeGaveUp
}

// indexTaken reports whether a node uses index i or it is quarantined.
func indexTaken(ctx context.Context, tx *sql.Tx, i uint32) (bool, error) {
	var taken bool
	err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM nodes WHERE addr_index = ?) OR
		EXISTS (SELECT 1 FROM address_quarantine WHERE addr_index = ?)`, i, i).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("check address %d: %w", i, err)
	}
	return taken, nil
}

// searchFree returns the lowest free index by walking every used and
// quarantined index in order.
func searchFree(ctx context.Context, tx *sql.Tx) (uint32, error) {
	rows, err := tx.QueryContext(ctx, `SELECT addr_index FROM nodes
		UNION SELECT addr_index FROM address_quarantine ORDER BY 1`)
	if err != nil {
		return 0, fmt.Errorf("list used addresses: %w", err)
	}
	defer rows.Close()
	next := func() (uint32, bool, error) {
		if !rows.Next() {
			return 0, false, rows.Err()
		}
		var i uint32
		if err := rows.Scan(&i); err != nil {
			return 0, false, err
		}
		return i, true, nil
	}
	return lowestFree(0, next)
}

// quarantineAddr keeps index i from being handed out before reusableAfter.
func quarantineAddr(ctx context.Context, tx *sql.Tx, i uint32, reusableAfter time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO address_quarantine (addr_index, reusable_after)
		VALUES (?, ?) ON CONFLICT (addr_index) DO UPDATE SET reusable_after = excluded.reusable_after`,
		i, reusableAfter.UnixMicro())
	if err != nil {
		return fmt.Errorf("quarantine address %d: %w", i, err)
	}
	return nil
}
