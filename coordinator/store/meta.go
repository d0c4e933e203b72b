package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
)

// Keys of the meta table.
const (
	metaULA        = "ula_prefix"  // TEXT: the IPv6 /48 addresses come from
	metaAddrCursor = "addr_cursor" // INTEGER: every index below it is taken
	metaMapVersion = "map_version" // INTEGER: the last map version handed out
)

// The statements that count the map version up. PostgreSQL's meta values
// are TEXT (SQLite's are of any type).
const (
	nextMapVersionSQLite = `INSERT INTO meta (key, value) VALUES (?, 1)
		ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value`
	nextMapVersionPG = `INSERT INTO meta (key, value) VALUES (?, '1')
		ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text RETURNING value`
)

// metaInt reads an integer meta value; ok is false when the key is absent.
func metaInt(ctx context.Context, q querier, key string) (v int64, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, true, nil
}

// setMeta sets a meta value, stored as its decimal or string form.
func setMeta(ctx context.Context, q querier, key string, value any) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, fmt.Sprint(value))
	if err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// settleULA returns the prefix node addresses come from: the one the
// database recorded, which want (if valid) must equal, or on a new database
// want or DefaultULA, which it records.
func settleULA(ctx context.Context, d *db, want netip.Prefix) (netip.Prefix, error) {
	var got netip.Prefix
	err := d.write(ctx, func(tx *sql.Tx) error {
		var text string
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaULA).Scan(&text)
		if errors.Is(err, sql.ErrNoRows) {
			got = cmpOr(want, defaultULA)
			return setMeta(ctx, tx, metaULA, got.String())
		}
		if err != nil {
			return err
		}
		if got, err = netip.ParsePrefix(text); err != nil {
			return err
		}
		if want.IsValid() && want != got {
			return fmt.Errorf("%w: database has %s, asked for %s", ErrPrefixChanged, got, want)
		}
		return nil
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("settle ipv6 prefix: %w", err)
	}
	return got, nil
}

// cmpOr returns p if it is valid, else def.
func cmpOr(p, def netip.Prefix) netip.Prefix {
	if p.IsValid() {
		return p
	}
	return def
}

// mapCounter implements MapVersions.
type mapCounter struct{ db *db }

// NextMapVersion implements MapVersions.
func (m mapCounter) NextMapVersion(ctx context.Context) (uint64, error) {
	var v int64
	err := m.db.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, m.db.pick(nextMapVersionSQLite, nextMapVersionPG), metaMapVersion).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("next map version: %w", err)
	}
	return uint64(v), nil
}

// MapVersion implements MapVersions.
func (m mapCounter) MapVersion(ctx context.Context) (uint64, error) {
	v, _, err := metaInt(ctx, m.db.r, metaMapVersion)
	if err != nil {
		return 0, fmt.Errorf("map version: %w", err)
	}
	return uint64(v), nil
}
