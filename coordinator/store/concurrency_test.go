package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWriters runs writers on two stores opened on one database,
// as two coordinator processes would be, and on many goroutines of each.
// Within a store writes queue for the single writer connection; between
// stores SQLite's lock and the busy timeout serialize them. No call may
// fail with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	s1, dir := openTest(t)
	s2 := openDir(t, dir)
	ctx := context.Background()
	k := tagKey("shared")
	k.Reusable = true
	mustAuthKey(t, s1, k)
	const perStore, rounds = 4, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	var versions []uint64 // guarded by mu
	errs := make(chan error, 2*perStore*rounds*4)
	for si, s := range []*SQLStore{s1, s2} {
		for g := range perStore {
			wg.Go(func() {
				for r := range rounds {
					machine := (si*perStore+g)*rounds + r
					v, err := writeRound(ctx, s, machine)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					versions = append(versions, v)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	checkConcurrentResult(t, s1, versions, 2*perStore*rounds)
}

// writeRound does one of each kind of write and a read, and returns the map
// version it took.
func writeRound(ctx context.Context, s *SQLStore, machine int) (uint64, error) {
	n, _, err := s.RegisterWithAuthKey(ctx, secret("shared"), t0, newNode(machine))
	if err != nil {
		return 0, err
	}
	if err := s.SetPresence(ctx, n.ID, t0.Add(time.Second), true); err != nil {
		return 0, err
	}
	if _, err := s.AppendAudit(ctx, AuditEvent{Actor: fmt.Sprintf("node:%d", n.ID), Action: "node.register"}); err != nil {
		return 0, err
	}
	if _, err := s.ListNodes(ctx); err != nil {
		return 0, err
	}
	return s.NextMapVersion(ctx)
}

// checkConcurrentResult checks that every write of TestConcurrentWriters
// landed once.
func checkConcurrentResult(t *testing.T, s *SQLStore, versions []uint64, want int) {
	t.Helper()
	ctx := context.Background()
	nodes, _ := s.ListNodes(ctx)
	events, _ := s.ListAudit(ctx, AuditFilter{})
	if len(nodes) != want || len(events) != want {
		t.Errorf("%d nodes, %d events; want %d each", len(nodes), len(events), want)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != uint64(i+1) {
			t.Fatalf("map versions not 1..%d without repeats: %v", want, versions)
		}
	}
	k, _ := s.AuthKey(ctx, 1)
	if k.UseCount != want {
		t.Errorf("UseCount = %d, want %d", k.UseCount, want)
	}
}
