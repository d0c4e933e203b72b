// Package splice joins two byte streams the way a local proxy does:
// Join copies both ways and passes each side's EOF on as a half-close,
// and ends the pair, resetting both sides, on an error, its context's end
// or idleness. It also holds what every local proxy shares: the
// loopback-only listener (Listen, CheckLoopback), the accept loop (Serve)
// and BufferedConn. It is not a relay server: it moves bytes between
// connections this process already holds.
package splice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/internal/copygrow"
)

// Default idle limits of a joined pair (see Limits).
const (
	// DefaultIdle matches how long the data plane's flow table keeps an
	// established TCP flow without traffic: past it, the overlay side is
	// forgotten by the peer's filter anyway.
	DefaultIdle = 2 * time.Hour
	// DefaultHalfClosedIdle bounds a pair one side of which has finished
	// sending while the other says nothing (a peer that vanished).
	DefaultHalfClosedIdle = 2 * time.Minute
)

// ErrIdle says Join cut a pair because no byte went either way for its
// idle limit.
var ErrIdle = errors.New("idle")

// Conn is a byte stream that Join can copy to and from.
type Conn interface {
	io.ReadWriteCloser
}

// halfCloser is a connection whose write side can be shut alone.
type halfCloser interface {
	CloseWrite() error
}

// Limits bound how long a joined pair may sit idle. The zero value means
// the defaults.
type Limits struct {
	// Idle ends the pair after this long without a byte either way; 0
	// means DefaultIdle.
	Idle time.Duration
	// HalfClosedIdle is the idle limit once one direction has ended
	// cleanly (its EOF passed on as a half-close); 0 means
	// DefaultHalfClosedIdle.
	HalfClosedIdle time.Duration
	// Buffer is the most bytes each direction reads at once; 0 means
	// DefaultBuffer. A direction starts with StartBuffer (or Buffer, when
	// smaller) and grows to Buffer when a read fills it.
	Buffer int
}

// DefaultBuffer is the most a Join's direction reads at once (see
// Limits.Buffer), and StartBuffer what it starts with, io.Copy's 32 KiB.
// A direction whose read fills its buffer is a bulk transfer, and grows
// it: through the overlay (issue 12), with a node's Go code on one
// processor, 32 KiB cost 1.02-1.19x the CPU per byte of 128 KiB (four
// times the reads and writes, and the hand-offs between the relay's
// goroutines and the netstack's); an idle or interactive pair keeps 32
// KiB a direction. (With a processor per CPU, 128 KiB had cost
// 15-20 % more.)
const (
	DefaultBuffer = copygrow.Bulk
	StartBuffer   = copygrow.Start
)

func (l Limits) buffer() int {
	if l.Buffer <= 0 {
		return DefaultBuffer
	}
	return l.Buffer
}

func (l Limits) idle() time.Duration {
	if l.Idle <= 0 {
		return DefaultIdle
	}
	return l.Idle
}

func (l Limits) halfClosedIdle() time.Duration {
	if l.HalfClosedIdle <= 0 {
		return min(DefaultHalfClosedIdle, l.idle())
	}
	return min(l.HalfClosedIdle, l.idle())
}

// Join copies both ways between a and b until both directions end, ctx is
// done, or the pair sits idle past lim. When one side reaches EOF, the
// other is half-closed if it can be (CloseWrite) and closed otherwise.
// Any other end (a side's error, ctx, idleness) closes both, resetting a
// TCP side (SO_LINGER 0), so neither end mistakes a cut for a clean end.
// Join returns nil when both directions ended cleanly, and then does not
// close a or b (the caller does); else it returns why the pair was cut:
// the failing side's error, ctx's cause, or ErrIdle. It leaves no
// goroutine behind.
func Join(ctx context.Context, a, b Conn, lim Limits) error {
	j := &joint{a: a, b: b, start: time.Now(), aborted: make(chan struct{})}
	j.limit.Store(int64(lim.idle()))
	j.ctx, j.cancel = context.WithCancelCause(ctx)
	defer j.cancel(nil)
	stop := context.AfterFunc(j.ctx, j.abort)
	j.timer.Store(time.AfterFunc(lim.idle(), j.checkIdle))
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.copyHalf(a, b, lim)
	}()
	j.copyHalf(b, a, lim)
	<-done
	j.timer.Load().Stop()
	if !stop() {
		<-j.aborted // abort has begun: let it finish closing both sides
	}
	if p := j.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// joint is the state of one Join.
type joint struct {
	a, b   Conn
	ctx    context.Context
	cancel context.CancelCauseFunc
	// timer fires checkIdle; atomic, as the timer's own goroutine reads it.
	timer atomic.Pointer[time.Timer]
	start time.Time
	// aborted is closed when abort has closed both sides.
	aborted chan struct{}
	// last is when a byte was last read from either side, in nanoseconds
	// since start.
	last atomic.Int64
	// limit is the idle limit now, in nanoseconds.
	limit atomic.Int64
	// cause is why the pair was cut; nil while it is not.
	cause atomic.Pointer[error]
}

// copyHalf copies src to dst, then passes the EOF on to dst; any other
// end cuts the pair.
func (j *joint) copyHalf(dst, src Conn, lim Limits) {
	if err := copygrow.Copy(dst, &activeReader{r: src, j: j}, lim.buffer()); err != nil {
		j.cut(fmt.Errorf("relay: %w", err))
		return
	}
	if hc, ok := dst.(halfCloser); ok && hc.CloseWrite() == nil {
		j.limit.Store(int64(lim.halfClosedIdle()))
		j.timer.Load().Reset(lim.halfClosedIdle())
		return
	}
	// dst cannot half-close: the pair ends with this side, cleanly.
	dst.Close()
	src.Close()
}

// cut records why the pair ends (the first reason wins) and has abort
// close both sides.
func (j *joint) cut(err error) {
	j.cause.CompareAndSwap(nil, &err)
	j.cancel(err)
}

// abort runs once, when the Join's context ends: it records the context's
// cause (unless something cut the pair first) and resets both sides.
func (j *joint) abort() {
	defer close(j.aborted)
	cause := context.Cause(j.ctx)
	j.cause.CompareAndSwap(nil, &cause)
	reset(j.a)
	reset(j.b)
}

// checkIdle runs when the idle timer fires: it cuts the pair if nothing
// was read for the idle limit, else sets the timer for when that would
// be.
func (j *joint) checkIdle() {
	if j.ctx.Err() != nil {
		return // the pair has ended
	}
	since := time.Duration(int64(time.Since(j.start)) - j.last.Load())
	limit := time.Duration(j.limit.Load())
	if since >= limit {
		j.cut(fmt.Errorf("relay: %w: nothing either way for %v", ErrIdle, limit.Round(time.Second)))
		return
	}
	j.timer.Load().Reset(limit - since)
}

// activeReader reads from r and records the time of each read that got
// bytes.
type activeReader struct {
	r Conn
	j *joint
}

func (r *activeReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.j.last.Store(int64(time.Since(r.j.start)))
	}
	return n, err
}

// reset closes c; a TCP connection is closed with a RST (SO_LINGER 0), so
// its peer learns the stream was cut, not finished.
func reset(c Conn) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0)
	} else if bc, ok := c.(*BufferedConn); ok {
		reset(bc.Conn)
		return
	}
	_ = c.Close()
}
