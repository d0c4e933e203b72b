package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStorageFaultsAreUnavailable makes a real SQLite database fail the
// ways a coordinator's disk does (full, closed) and checks that the errors
// read as Unavailable, while a refusal of the request does not.
func TestStorageFaultsAreUnavailable(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	// The writer's one connection keeps the limit: the database holds more
	// pages already, so the first write that grows it fails with SQLITE_FULL.
	if _, err := s.db.w.ExecContext(ctx, "PRAGMA max_page_count = 1"); err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		_, full = s.AppendAudit(ctx, AuditEvent{Time: t0, Actor: "test", Action: "fill", Detail: []byte(`"` + strings.Repeat("x", 4000) + `"`)})
	}
	if full == nil {
		t.Fatal("the database never filled up")
	}
	if !Unavailable(full) {
		t.Errorf("disk full: Unavailable(%v) = false", full)
	}

	_, err := s.User(ctx, 42)
	if !errors.Is(err, ErrNotFound) || Unavailable(err) {
		t.Errorf("missing user: %v, Unavailable = %v; want ErrNotFound only", err, Unavailable(err))
	}
	if Unavailable(nil) || Unavailable(ErrInvalid) || !Unavailable(ErrUnavailable) {
		t.Error("Unavailable misreads the sentinels")
	}

	closed, _ := openTest(t)
	closed.Close()
	if _, err := closed.ListUsers(ctx); !Unavailable(err) {
		t.Errorf("closed database: Unavailable(%v) = false", err)
	}
}
