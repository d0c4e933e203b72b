package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
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
		// The review's finding: comments and E'' strings hold no parameter.
		{"SELECT ? -- why?\nFROM t WHERE a = ?", "SELECT $1 -- why?\nFROM t WHERE a = $2"},
		{"SELECT ? /* a ? here */, ?", "SELECT $1 /* a ? here */, $2"},
		{"SELECT E'it\\'s ?', ?", "SELECT E'it\\'s ?', $1"},
		{"SELECT ?, 'unterminated ?", "SELECT $1, 'unterminated ?"},
		{"SELECT ? -- trailing?", "SELECT $1 -- trailing?"},
		{"SELECT ? /* open?", "SELECT $1 /* open?"},
		{"SELECT 'ü?', ?", "SELECT 'ü?', $1"},
	} {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// pgChangesReachOtherStores (PostgreSQL only, from TestPostgres): a
// change one store's write commits (the change log's triggers) reaches a
// store of another coordinator on the same database, not its own writer;
// presence is a change of its own kind, and only when the online flag
// flips (a last-seen time alone is none); a follower whose listening connection is cut
// reconnects and misses nothing written meanwhile.
func pgChangesReachOtherStores(t *testing.T) {
	a, loc := openTest(t)
	b := openDir(t, loc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := map[*SQLStore]chan Change{a: make(chan Change, 10), b: make(chan Change, 10)}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for s, ch := range got {
		f, err := s.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { f.Run(ctx, func(c Change) { ch <- c }) })
	}
	n := mustRegister(t, a, 1, t0)
	if c := waitChange(t, got[b]); c != (Change{Kind: ChangeNode, Node: n.ID}) {
		t.Fatalf("b got %+v, want node %d", c, n.ID)
	}
	if err := a.SetPresence(ctx, n.ID, t0.Add(time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, got[b]); c != (Change{Kind: ChangePresence, Node: n.ID}) {
		t.Fatalf("b got %+v, want the presence of node %d", c, n.ID)
	}
	if err := a.SetPresence(ctx, n.ID, t0.Add(2*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SavePolicy(ctx, NewPolicy{Text: "{}", Author: "test", ParentID: AnyParent}); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, got[a]); c.Kind != ChangePolicy {
		t.Fatalf("a got %+v, want policy", c)
	}
	select {
	case c := <-got[a]:
		t.Fatalf("a got a second change %+v (its own?)", c)
	case c := <-got[b]:
		t.Fatalf("b got its own change or a last-seen time %+v", c)
	default:
	}
	// Cut every listening connection and write while they are down:
	// both read it from the log.
	if _, err := a.db.w.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	if err := b.RenameNode(ctx, n.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, got[a]); c != (Change{Kind: ChangeNode, Node: n.ID}) {
		t.Fatalf("after a cut: %+v, want node %d", c, n.ID)
	}
}

// pgMutedChangeReachedByPoll (PostgreSQL only, from TestPostgres): a write
// whose notification is lost (MuteChanges) still reaches the other
// store's follower, by its poll, within ChangePoll (plus a generous
// margin for a loaded machine).
func pgMutedChangeReachedByPoll(t *testing.T) {
	a, loc := openTest(t)
	b := openDir(t, loc)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	f, err := b.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Change, 10)
	wg.Go(func() { f.Run(ctx, func(c Change) { ch <- c }) })
	a.MuteChanges(true)
	n := mustRegister(t, a, 1, t0)
	start := time.Now()
	if c := waitChange(t, ch); c != (Change{Kind: ChangeNode, Node: n.ID}) {
		t.Fatalf("b got %+v, want node %d", c, n.ID)
	}
	t.Logf("a change without notification reached the other store after %v (poll %v)", time.Since(start).Round(time.Millisecond), ChangePoll)
}

// waitChange returns the next change on ch, failing after a generous
// deadline.
func waitChange(t *testing.T, ch chan Change) Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no change within 15s")
	}
	return Change{}
}

// pgOneStoreRunsEachJob (PostgreSQL only, from TestPostgres): of two
// stores on one database exactly one runs a job, and when it closes (its
// coordinator died) the other takes the job over.
func pgOneStoreRunsEachJob(t *testing.T) {
	a, loc := openTest(t)
	b, err := OpenPostgres(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !b.RunsJob(ctx, "reap") || a.RunsJob(ctx, "reap") {
		t.Fatal("want b and only b to run the job it asked for first")
	}
	if !a.RunsJob(ctx, "other") || b.RunsJob(ctx, "other") {
		t.Fatal("a second job has its own lock")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !a.RunsJob(ctx, "reap") {
		if time.Now().After(deadline) {
			t.Fatal("a did not take over the job within 15s of b closing")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
