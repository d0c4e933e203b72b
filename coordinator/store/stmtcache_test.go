package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"modernc.org/sqlite"
)

// cachedCount is how many statements the pool's one connection keeps.
func cachedCount(t *testing.T, p *sql.DB) int {
	t.Helper()
	c, err := p.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := -1
	if err := c.Raw(func(dc any) error {
		sc, ok := dc.(*stmtCacheConn)
		if !ok {
			return fmt.Errorf("driver connection is a %T", dc)
		}
		n = len(sc.stmts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func openCachePool(t *testing.T) *sql.DB {
	t.Helper()
	p, err := openPool(context.Background(), filepath.Join(t.TempDir(), "c.db"), writerParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if _, err := p.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStmtCache: a query text is prepared once per connection and its
// statement reused, with the same results as the driver's own path.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	p := openCachePool(t)
	before := cachedCount(t, p)
	for i := range 5 {
		if _, err := p.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		var v string
		if err := p.QueryRowContext(ctx, `SELECT v FROM t WHERE id = ?`, i+1).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("v", i); v != want {
			t.Fatalf("row %d: got %q, want %q", i+1, v, want)
		}
	}
	if got := cachedCount(t, p); got != before+2 {
		t.Fatalf("kept %d statements, want %d (two texts)", got, before+2)
	}
	// No row: sql.ErrNoRows, and the statement is free again.
	for range 2 {
		var v string
		if err := p.QueryRowContext(ctx, `SELECT v FROM t WHERE id = ?`, 99).Scan(&v); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("missing row: %v", err)
		}
	}
	// The driver's errors come through as they are.
	_, err := p.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, "v1")
	var se *sqlite.Error
	if !errors.As(err, &se) {
		t.Fatalf("duplicate insert: %v (%T), want a *sqlite.Error", err, err)
	}
	if _, err := p.ExecContext(ctx, `INSERT INTO nope VALUES (1)`); err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	if got := cachedCount(t, p); got != before+2 {
		t.Fatalf("kept %d statements after errors, want %d", got, before+2)
	}
}

// TestStmtCacheNestedSameText: a text run again while rows of it are
// open (in one transaction, on one connection) gets a statement of its
// own; both readers see their own rows.
func TestStmtCacheNestedSameText(t *testing.T) {
	ctx := context.Background()
	p := openCachePool(t)
	for i := range 4 {
		if _, err := p.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := p.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`
	outer, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		var v string
		if err := outer.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		// The same text, while outer's rows are open.
		inner, err := tx.QueryContext(ctx, q, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for inner.Next() {
			n++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s:%d", id, v, n))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	want := "[1:v0:4 2:v1:3 3:v2:2 4:v3:1]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// TestStmtCacheStartsOver: past maxCachedStmts texts the cache drops
// what it holds and keeps working.
func TestStmtCacheStartsOver(t *testing.T) {
	ctx := context.Background()
	p := openCachePool(t)
	for i := range maxCachedStmts + 10 {
		var n int
		if err := p.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + count(*) FROM t`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Fatalf("query %d: got %d", i, n)
		}
	}
	if got := cachedCount(t, p); got > maxCachedStmts {
		t.Fatalf("kept %d statements, more than %d", got, maxCachedStmts)
	}
}
