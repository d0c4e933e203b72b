package netstack

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// waitReturned starts g.Wait(done) and returns a channel closed when it
// returns, once the waiter is registered (or Wait returned at once).
func waitReturned(t *testing.T, g *Gate, done <-chan struct{}) <-chan struct{} {
	t.Helper()
	ret := make(chan struct{})
	go func() {
		g.Wait(done)
		close(ret)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.waiters.Load() == 0 {
		select {
		case <-ret:
			return ret
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Wait never registered as a waiter")
		}
		time.Sleep(time.Millisecond)
	}
	return ret
}

func returnedSoon(t *testing.T, ret <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ret:
	case <-time.After(10 * time.Second):
		t.Fatalf("Wait did not return after %s", what)
	}
}

func stillWaiting(t *testing.T, ret <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ret:
		t.Fatalf("Wait returned after %s", what)
	default:
	}
}

func TestGateWaitsAtTheLimitUntilPacketsLeave(t *testing.T) {
	const limit = 8
	g := newGate(limit, time.Hour) // no stall in this test
	g.Wait(nil)                    // empty: returns at once
	g.Enter(limit - 1)
	g.Wait(nil) // under the limit: returns at once
	g.Enter(3)  // 10 held
	ret := waitReturned(t, g, nil)
	stillWaiting(t, ret, "the count reached the limit")
	g.Leave(1) // 9: still at or over the limit
	stillWaiting(t, ret, "a Leave that left the count over the limit")
	g.Leave(2) // 7
	returnedSoon(t, ret, "the count fell under the limit")
	if st := g.Stats(); st.Held != 7 || st.Peak != 10 || st.Resets != 0 {
		t.Errorf("stats %+v, want held 7, peak 10, no resets", st)
	}
}

func TestGateWakesEveryWaiter(t *testing.T) {
	g := newGate(4, time.Hour)
	g.Enter(4)
	var rets []<-chan struct{}
	for range 3 {
		rets = append(rets, waitReturned(t, g, nil))
	}
	for g.waiters.Load() != 3 {
		time.Sleep(time.Millisecond)
	}
	g.Leave(1)
	for i, ret := range rets {
		returnedSoon(t, ret, fmt.Sprintf("a Leave under the limit (waiter %d)", i))
	}
}

func TestGateStallRestartsTheCount(t *testing.T) {
	// wireguard-go dropped what it held (no session yet, a replay): nothing
	// will leave, so the Wait gives up after the stall time.
	g := newGate(4, 5*time.Millisecond)
	g.Enter(6)
	ret := waitReturned(t, g, nil)
	returnedSoon(t, ret, "the stall time")
	if st := g.Stats(); st.Held != 0 || st.Resets != 1 || st.Peak != 6 {
		t.Errorf("stats %+v, want held 0, one reset, peak 6", st)
	}
}

func TestGateWaitEndsWithDone(t *testing.T) {
	g := newGate(1, time.Hour)
	g.Enter(1)
	done := make(chan struct{})
	ret := waitReturned(t, g, done)
	stillWaiting(t, ret, "nothing left")
	close(done)
	returnedSoon(t, ret, "done was closed")
}

func TestGateLeaveNeverBelowZero(t *testing.T) {
	g := newGate(2, time.Hour)
	g.Leave(5) // keepalives and handshakes leave uncounted
	g.Enter(2)
	ret := waitReturned(t, g, nil)
	stillWaiting(t, ret, "the count reached the limit after an early Leave")
	g.Leave(2)
	returnedSoon(t, ret, "the count fell to zero")
}

func TestNilGateBoundsNothing(t *testing.T) {
	var g *Gate
	g.Enter(1 << 20)
	g.Wait(nil)
	g.Leave(1)
	if st := g.Stats(); st != (GateStats{}) {
		t.Errorf("nil gate stats %+v", st)
	}
	if newGate(0, time.Second) != nil || newGate(-1, time.Second) != nil {
		t.Error("a gate without a positive limit is not nil")
	}
}

// TestGateConcurrent runs producers that wait and enter against consumers
// that leave what was entered; every Wait must return (go test -race).
func TestGateConcurrent(t *testing.T) {
	g := newGate(16, time.Hour)
	const per = 2000
	ch := make(chan int, 1024)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				g.Wait(nil)
				n := 1 + i%5
				g.Enter(n)
				ch <- n
			}
		}()
	}
	var cons sync.WaitGroup
	cons.Add(1)
	go func() {
		defer cons.Done()
		for n := range ch {
			g.Leave(n)
		}
	}()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatalf("producers stuck: %+v", g.Stats())
	}
	close(ch)
	cons.Wait()
	if st := g.Stats(); st.Held != 0 || st.Resets != 0 || st.Peak > 15+3*5 {
		t.Errorf("stats %+v, want held 0, no resets, peak near the limit", st)
	}
}
