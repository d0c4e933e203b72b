package coordinator

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/wardnet/ward/coordinator/store"
)

// fakeBatch registers every registration but those of key hash {1}.
type fakeBatch struct{}

func (fakeBatch) RegisterBatch(_ context.Context, regs []store.KeyRegistration) []store.KeyRegistered {
	out := make([]store.KeyRegistered, len(regs))
	for i, g := range regs {
		if g.KeyHash == (store.SecretHash{1}) {
			out[i].Err = errors.New("refused")
			continue
		}
		out[i].Node = store.Node{Name: g.Node.Name}
	}
	return out
}

// TestRegistrationsReachTheNetmapInOrder: the callers of a batch (and of
// the batches after it) put their nodes in the netmap in the order the
// store wrote them, whatever order they wake in; a refused one and one
// whose caller never takes its turn hold up nobody for long.
func TestRegistrationsReachTheNetmapInOrder(t *testing.T) {
	b := &regBatcher{}
	var results []regResult
	for range 3 { // three batches
		var batch []regReq
		for i := range 20 {
			g := store.KeyRegistration{Node: store.NewNode{Name: string(rune('a' + len(results) + i))}}
			if i == 7 {
				g.KeyHash = store.SecretHash{1}
			}
			batch = append(batch, regReq{reg: g, done: make(chan regResult, 1)})
		}
		b.write(context.Background(), fakeBatch{}, batch)
		for _, r := range batch {
			results = append(results, <-r.done)
		}
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := len(results) - 1; i >= 0; i-- { // woken last first
		res := results[i]
		if res.Err != nil {
			if res.turn != nil {
				t.Fatal("a refused registration has a turn")
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.inTurn(func() {
				mu.Lock()
				order = append(order, res.Node.Name)
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	var want []string
	for _, res := range results {
		if res.Err == nil {
			want = append(want, res.Node.Name)
		}
	}
	if len(order) != len(want) {
		t.Fatalf("%d nodes applied, want %d", len(order), len(want))
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("applied in the order %v, want %v", order, want)
		}
	}
}
