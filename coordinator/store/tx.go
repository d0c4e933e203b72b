package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// querier is what both a pool and a transaction offer; the row helpers take
// one so that they work inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in one write transaction and commits it when fn returns
// nil; otherwise it rolls back. On SQLite the transaction is BEGIN IMMEDIATE
// on the writer connection; on PostgreSQL it first takes the advisory lock
// writeLockKey, so in both writers run one at a time, and names the
// transaction's origin (and whether it notifies) for the change log's
// triggers (migrations_pg/0018).
func (d *db) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if d.pg {
		quiet := "off"
		if d.quiet.Load() {
			quiet = "on"
		}
		_, err = tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?), set_config('ward.origin', ?, true),
			set_config('ward.quiet', ?, true)`, int64(writeLockKey), d.origin, quiet)
	}
	if err == nil {
		err = fn(tx)
	}
	if err != nil {
		if rbErr := tx.Rollback(); rbErr != nil {
			return errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// execOne runs a single-statement write that must change exactly one row,
// and returns ErrNotFound when it changed none.
func (d *db) execOne(ctx context.Context, query string, args ...any) error {
	if d.pg {
		return d.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			return oneRow(res)
		})
	}
	res, err := d.w.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	return oneRow(res)
}

// oneRow returns ErrNotFound unless res changed at least one row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("count changed rows: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// notFound turns sql.ErrNoRows into ErrNotFound and keeps other errors.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// isUniqueViolation reports whether err is SQLite's or PostgreSQL's UNIQUE
// constraint error.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || pgUniqueViolation(err)
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	return appendAll(ctx, q, nil, scan, query, args...)
}

// appendAll runs query and appends every row, scanned with scan, to out.
func appendAll[T any](ctx context.Context, q querier, out []T, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// pick returns the statement for the database d is: sqlite's on SQLite, pg's
// on PostgreSQL.
func (d *db) pick(sqlite, pg string) string {
	if d.pg {
		return pg
	}
	return sqlite
}

// insertID runs an INSERT of one row and returns the row's new id (by
// RETURNING, which both SQLite and PostgreSQL understand).
func insertID(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, query+" RETURNING id", args...).Scan(&id)
	return id, err
}
