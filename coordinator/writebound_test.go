package coordinator

import (
	"errors"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// boundWriter is a response writer as the map stream sees one: it
// counts write-deadline calls and, when stall is set, blocks each write
// until a deadline set on it passes (as a node that stops reading), a
// deadline in the past ending it at once.
type boundWriter struct {
	stall bool

	mu sync.Mutex // guards what follows
	// deadlines counts SetWriteDeadline calls; writes and flushes the
	// others.
	deadlines, writes, flushes int
	// expired is closed when the deadline passed; timer fires it.
	expired chan struct{}
	timer   *time.Timer
	// handlerDone: a deadline set after it is a use of the response after
	// its handler returned.
	handlerDone, lateUse bool
}

func newDeadlineWriter(stall bool) *boundWriter {
	return &boundWriter{stall: stall, expired: make(chan struct{})}
}

func (w *boundWriter) Header() http.Header { return http.Header{} }
func (w *boundWriter) WriteHeader(int)     {}

func (w *boundWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	expired := w.expired
	w.mu.Unlock()
	if !w.stall {
		return len(b), nil
	}
	select {
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	case <-time.After(30 * time.Second):
		return 0, errors.New("stalled write never ended")
	}
}

func (w *boundWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	return nil
}

func (w *boundWriter) SetWriteDeadline(d time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadlines++
	if w.handlerDone {
		w.lateUse = true
	}
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if d.IsZero() {
		return nil
	}
	expired := w.expired
	w.timer = time.AfterFunc(time.Until(d), func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		select {
		case <-expired:
		default:
			close(expired)
		}
	})
	return nil
}

func testStreamState(w *boundWriter, timeout time.Duration) *streamState {
	s := &control{core: &core{cfg: Config{MapWriteTimeout: timeout}, hub: newHub(time.Now())}}
	return &streamState{s: s, w: w, rc: http.NewResponseController(w)}
}

// TestKeepAlivesTouchNoWriteDeadline: a keep-alive that is written in
// time costs its write and flush alone. Each write deadline is a round
// trip to the HTTP/2 connection's serve loop, and bounding every write
// with one (set, then cleared) cost two per keep-alive.
func TestKeepAlivesTouchNoWriteDeadline(t *testing.T) {
	w := newDeadlineWriter(false)
	st := testStreamState(w, 30*time.Second)
	const n = 10
	for range n {
		if !st.keepAliveNow() {
			t.Fatal("keep-alive failed")
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes != n || w.flushes != n {
		t.Errorf("%d writes, %d flushes; want %d each", w.writes, w.flushes, n)
	}
	if w.deadlines != 0 {
		t.Errorf("%d write-deadline calls for %d keep-alives written in time, want none", w.deadlines, n)
	}
}

// TestStalledWriteEndsWithinBound: a write that a node does not read
// ends once it waited MapWriteTimeout (its stream then ends), and the
// bound leaves the response alone once the write returned.
func TestStalledWriteEndsWithinBound(t *testing.T) {
	w := newDeadlineWriter(true)
	st := testStreamState(w, 50*time.Millisecond)
	done := make(chan bool, 1)
	go func() { done <- st.write([]byte("{}\n")) }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a stalled write reported success")
		}
	case <-time.After(25 * time.Second): // the fake's own bound is 30 s
		t.Fatal("a stalled write did not end within 25s (bound 50ms)")
	}
	w.mu.Lock()
	w.handlerDone = true
	w.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // a bound still armed would fire meanwhile
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lateUse {
		t.Error("the write deadline was set after the write returned")
	}
}
