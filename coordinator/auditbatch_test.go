package coordinator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// gatedStore counts batched audit writes and holds the first until
// release is closed.
type gatedStore struct {
	*store.SQLStore
	release chan struct{}

	mu      sync.Mutex // mu guards batches
	batches []int
}

func (g *gatedStore) AppendAudits(ctx context.Context, events []store.AuditEvent) error {
	g.mu.Lock()
	first := len(g.batches) == 0
	g.batches = append(g.batches, len(events))
	g.mu.Unlock()
	if first {
		<-g.release
	}
	return g.SQLStore.AppendAudits(ctx, events)
}

// TestRegistrationAuditRowsAreGroupCommitted: audit rows appended while a
// write is under way (as concurrent registrations make them) go in one
// transaction after it, not one sync each, and each append returns only
// once its row is in the store, so an acknowledged action never loses
// its row.
func TestRegistrationAuditRowsAreGroupCommitted(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &gatedStore{SQLStore: st, release: make(chan struct{})}
	b := newAuditBatcher(g)
	const n = 40
	errs := make(chan error, n)
	appendOne := func(i int) {
		actor := fmt.Sprintf("node:n%d", i)
		if err := b.append(context.Background(), store.AuditEvent{Actor: actor, Action: "node.register"}); err != nil {
			errs <- err
			return
		}
		got, err := st.ListAudit(context.Background(), store.AuditFilter{Actor: actor})
		if err == nil && len(got) != 1 {
			err = fmt.Errorf("%s: append returned, %d rows stored", actor, len(got))
		}
		errs <- err
	}
	go appendOne(0)
	waitQueue := func(want int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b.q.mu.Lock()
			q, w := len(b.q.pend), b.q.writing
			b.q.mu.Unlock()
			if w && q == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue: %d appends (writing %v), want %d", q, w, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitQueue(0) // the first write is under way, held
	for i := 1; i < n; i++ {
		go appendOne(i)
	}
	waitQueue(n - 1)
	close(g.release)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) != 2 || g.batches[1] != n-1 {
		t.Errorf("writes of %v events; want 1, then the %d queued meanwhile in one", g.batches, n-1)
	}
}
