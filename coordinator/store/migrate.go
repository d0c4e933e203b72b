package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema migrations, named NNNN_what.sql and
// numbered from 0001 without gaps. A released migration is never edited;
// a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// pgMigrationFiles are the same migrations for PostgreSQL, with the same
// numbers, so that a schema version means the same tables in both. Its
// 0003 only adds the columns: no PostgreSQL database predates it, so there
// are no old keys to attribute.
//
//go:embed migrations_pg/*.sql
var pgMigrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations in version order.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	var ms []migration
	for i, name := range names {
		m, err := readMigration(fsys, name)
		if err != nil {
			return nil, err
		}
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", name, m.version, i+1)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// readMigration reads one migration file and parses its version.
func readMigration(fsys fs.FS, name string) (migration, error) {
	base := path.Base(name)
	num, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil {
		return migration{}, fmt.Errorf("migration %s: name must start with a number and '_'", base)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return migration{}, fmt.Errorf("read migration %s: %w", base, err)
	}
	return migration{version: v, name: base, sql: string(b)}, nil
}

// migrate brings the schema up to date. Each migration runs in its own
// transaction together with its schema_migrations row, so it is applied
// whole or not at all, and exactly once even when two processes open the
// database at the same time.
func migrate(ctx context.Context, d *db) error {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if d.pg {
		ms, err = loadMigrations(pgMigrationFiles, "migrations_pg")
	}
	if err != nil {
		return err
	}
	return applyMigrations(ctx, d, ms)
}

// createMigrations is the table of applied migrations, in each dialect.
const (
	createMigrationsSQLite = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`
	createMigrationsPG = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`
)

// applyMigrations applies ms, the migrations in version order from the
// first; tests give a prefix of them to make a database of an older
// version.
func applyMigrations(ctx context.Context, d *db, ms []migration) error {
	err := d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.pick(createMigrationsSQLite, createMigrationsPG)); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		return checkNotNewer(ctx, tx, len(ms))
	})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, d, m); err != nil {
			return err
		}
	}
	return nil
}

// checkNotNewer refuses a database that a newer binary has migrated.
func checkNotNewer(ctx context.Context, w querier, latest int) error {
	var v sql.NullInt64
	err := w.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v.Int64 > int64(latest) {
		return fmt.Errorf("%w: version %d, this binary knows %d", ErrSchemaTooNew, v.Int64, latest)
	}
	return nil
}

// applyMigration applies m unless it was applied before.
func applyMigration(ctx context.Context, d *db, m migration) error {
	err := d.write(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
		if err != nil || n > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	return nil
}
