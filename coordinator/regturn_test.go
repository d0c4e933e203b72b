package coordinator

import (
	"context"
	"errors"
	"slices"
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

// TestRegistrationsReachTheNetmapInOrder: the nodes of a batch (and of
// the batches after it) go into the netmap in the order the store wrote
// them, whatever order their callers wake in, each caller gets its own
// result, and a refused registration is not applied.
func TestRegistrationsReachTheNetmapInOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	b := &regBatcher{apply: func(n store.Node) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, n.Name)
		return nil
	}}
	var reqs []regReq
	var want []string
	for range 3 { // three batches
		var batch []regReq
		for i := range 20 {
			g := store.KeyRegistration{Node: store.NewNode{Name: string(rune('a' + len(reqs) + i))}}
			if i == 7 {
				g.KeyHash = store.SecretHash{1}
			} else {
				want = append(want, g.Node.Name)
			}
			batch = append(batch, regReq{reg: g, done: make(chan regResult, 1)})
		}
		b.write(context.Background(), fakeBatch{}, batch)
		reqs = append(reqs, batch...)
	}
	var wg sync.WaitGroup
	for _, r := range slices.Backward(reqs) { // woken last first
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.drain(r.done)
			res := b.await(r.done)
			if res.Node.Name != "" && res.Node.Name != r.reg.Node.Name || res.Err == nil && !res.applied || res.Err != nil && res.applied {
				t.Errorf("%s got %+v", r.reg.Node.Name, res)
			}
		}()
	}
	wg.Wait()
	if !slices.Equal(order, want) {
		t.Fatalf("applied in the order %v, want %v", order, want)
	}
	if b.applying || len(b.written) > 0 {
		t.Fatalf("left applying %v with %d written", b.applying, len(b.written))
	}
}
