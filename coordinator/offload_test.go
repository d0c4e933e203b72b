package coordinator

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

func TestOffloadRunsEachJobOnceWithinItsBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const max, calls = 3, 200
	p := newOffload(ctx, max)
	var running, peak, ran atomic.Int32
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := false
			p.do(func() {
				n := running.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
				ran.Add(1)
				done = true
			})
			if !done {
				t.Error("do returned before its job ran")
			}
		}()
	}
	wg.Wait()
	if got := ran.Load(); got != calls {
		t.Fatalf("%d jobs ran, want %d", got, calls)
	}
	if got := peak.Load(); got > max {
		t.Fatalf("%d jobs ran at once, want at most %d", got, max)
	}
	if got := p.workers.Load(); got > max {
		t.Fatalf("%d workers, want at most %d", got, max)
	}
}

func TestOffloadPanicReachesCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newOffload(ctx, 1)
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want boom", v)
		}
		// The worker survived the panic and still serves.
		ran := false
		p.do(func() { ran = true })
		if !ran {
			t.Fatal("the pool did not run a job after a panic")
		}
	}()
	p.do(func() { panic("boom") })
	t.Fatal("do returned after a panicking job")
}

func TestOffloadAfterStopAndNil(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := newOffload(ctx, 1)
	p.do(func() {}) // starts the one worker
	cancel()
	for range 10 { // the worker has stopped or stops: jobs run all the same
		ran := false
		p.do(func() { ran = true })
		if !ran {
			t.Fatal("job did not run after the pool stopped")
		}
	}
	var none *offload
	ran := false
	none.do(func() { ran = true })
	if !ran {
		t.Fatal("a nil pool did not run the job")
	}
}

func TestAppendKeepAliveMatchesMarshal(t *testing.T) {
	for _, tc := range []struct {
		version uint64
		now     time.Time
	}{
		{0, time.Time{}},
		{1, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{18446744073709551615, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{42, time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)},
		{7, time.Now().UTC()},
	} {
		want, err := json.Marshal(wire.MapResponse{KeepAlive: true, Version: tc.version, ServerTime: tc.now})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendKeepAlive(nil, tc.version, tc.now); string(got) != string(want)+"\n" {
			t.Errorf("appendKeepAlive(%d, %v) = %s, want %s", tc.version, tc.now, got, want)
		}
	}
}

// TestMapStreamKeepsAliveUntilItsSessionEnds: the one timer a stream holds
// serves both its keep-alives and its session's end.
func TestMapStreamKeepsAliveUntilItsSessionEnds(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.KeepAlive = 50 * time.Millisecond
		cfg.SessionTTL = 2 * time.Second
	})
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	lines := rawLines(t, c, op)
	if m := <-lines; !m.Full {
		t.Fatalf("first message: %+v", m)
	}
	keep := 0
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				if keep < 3 {
					t.Fatalf("stream ended after %d keep-alives, want several before its session's end", keep)
				}
				return
			}
			if m.KeepAlive {
				keep++
			}
		case <-deadline:
			t.Fatalf("stream still open 30 s after its session's 2 s lifetime (%d keep-alives)", keep)
		}
	}
}

func TestWriteOffReturnsAndPanicsOnCaller(t *testing.T) {
	if !writeOff(func() bool { return true }) || writeOff(func() bool { return false }) {
		t.Fatal("writeOff did not return its function's result")
	}
	defer func() {
		if v := recover(); v != "write" {
			t.Fatalf("recovered %v, want write", v)
		}
	}()
	writeOff(func() bool { panic("write") })
	t.Fatal("writeOff returned after a panic")
}

func TestWatchesPresence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules *alert.Rules
		want  bool
	}{
		{"none loaded", nil, false},
		{"no rules", &alert.Rules{}, false},
		{"others only", &alert.Rules{Rules: []alert.Rule{{Kind: alert.KindDenied}, {Kind: alert.KindJoined}}}, false},
		{"offline", &alert.Rules{Rules: []alert.Rule{{Kind: alert.KindJoined}, {Kind: alert.KindOffline}}}, true},
		{"keys expiring", &alert.Rules{Rules: []alert.Rule{{Kind: alert.KindKeyExpiring}}}, true},
	} {
		if got := watchesPresence(tc.rules); got != tc.want {
			t.Errorf("%s: watchesPresence = %v, want %v", tc.name, got, tc.want)
		}
	}
}
