package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestSingleUseKeyAcrossStores: two stores on one database (two
// coordinators on one PostgreSQL, or two processes on one SQLite file)
// race to register with one single-use key; exactly one node registers.
func TestSingleUseKeyAcrossStores(t *testing.T) {
	a, loc := openTest(t)
	b := openDir(t, loc)
	ctx := context.Background()
	mustAuthKey(t, a, tagKey("once"))
	const racers = 12
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			_, _, errs[i] = s.RegisterWithAuthKey(ctx, secret("once"), t0, newNode(i))
		})
	}
	close(start)
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrAuthKeyUsed):
			t.Errorf("unexpected error: %v", err)
		}
	}
	nodes, err := b.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(nodes) != 1 {
		t.Errorf("%d registrations succeeded, %d nodes; want 1 and 1", ok, len(nodes))
	}
}

// TestRebind: '?' placeholders become $1, $2, … except inside quotes.
func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"UPDATE t SET a = ?, b = ? WHERE id = ?", "UPDATE t SET a = $1, b = $2 WHERE id = $3"},
		{"SELECT '?' || ? FROM \"q?\"", "SELECT '?' || $1 FROM \"q?\""},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
	} {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
