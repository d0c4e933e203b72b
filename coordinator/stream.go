package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// handleMap streams the caller's map: a full map (or a delta when it
// resumes from a version the coordinator remembers), then a delta whenever
// something it receives changes, and keep-alives in between. The stream
// ends when the session expires, the node is removed, or the server stops.
func (s *control) handleMap(w http.ResponseWriter, r *http.Request) {
	// The setup (session, node, admission, presence) runs off this
	// goroutine, which then only parks and writes (see offload).
	var (
		o   mapOpen
		err error
	)
	beat := beatOf(r)
	s.work.do(func() { o, err = s.openMap(w, r, beat) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Only what the stream needs stays on this goroutine's frame (a node
	// record is 520 bytes, and every parked stream's frame holds it).
	id, sub, beats, machine, expires := o.node.ID, o.sub, o.beats, o.ss.machine, o.ss.expires
	defer s.work.do(func() { s.settleOnline(id) })
	defer s.hub.unsubscribe(id, sub)
	if beats != nil {
		defer s.beats.unwatch(machine)
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	st := &streamState{s: s, id: id, w: w, rc: http.NewResponseController(w), sent: o.sent,
		keepAlive: s.keepAliveFor(r.URL.Query().Get(wire.MapIdleParam)), grantsDelta: supports(r, wire.FeatureGrantsDelta),
		srcRefs: supports(r, wire.FeatureFilterSrcRefs), srcDelta: supports(r, wire.FeatureFilterSrcDelta),
		grantsSwap: supports(r, wire.FeatureGrantsSwap), noDeny: !supports(r, wire.FeatureDenyRules),
		binPeers: supports(r, wire.FeatureBinaryPeers), beat: beat, beats: beats, kaPhase: keepAlivePhase(r.Context())}
	if !st.write(nil) { // a resumed stream may have nothing to send yet
		return
	}
	if st.sent == nil {
		st.sent = &sentState{}
	}
	s.hub.recordSent(id, st.sent)
	s.streamLoop(r.Context(), st, sub, expires)
}

// mapOpen is what an admitted map stream holds (openMap).
type mapOpen struct {
	ss   session
	node store.Node
	sub  *subscriber
	// beats is the node's beat entry when it asked for beats.
	beats *beatEntry
	// sent is the state of the stream it resumes; nil: none.
	sent *sentState
}

// openMap checks and admits map request r, subscribes its node and marks
// it online: the caller must unsubscribe, settle the node's presence
// again and, with beats, unwatch them. A refusal is err (with its
// Retry-After set on w), and holds nothing.
func (s *control) openMap(w http.ResponseWriter, r *http.Request, beat time.Duration) (o mapOpen, err error) {
	if o.ss, err = s.sessionOf(r); err != nil {
		return o, err
	}
	if o.node, err = s.nodeOf(r); err != nil {
		return o, err
	}
	n := o.node
	since, _ := strconv.ParseUint(r.URL.Query().Get(wire.MapSinceParam), 10, 64)
	if _, ok := w.(http.Flusher); !ok {
		return o, errBadRequest
	}
	if ok, wait := s.reopen.Allow(n.ID, time.Now()); !ok {
		s.limits.refused.WithLabelValues("map").Inc()
		err := &retryAfterError{what: "this node's map streams", after: max(wait, time.Second)}
		setRetryAfter(w, err)
		return o, err
	}
	if ok, _ := s.admit.Allow(struct{}{}, time.Now()); !ok {
		s.limits.refused.WithLabelValues("map").Inc()
		err := &retryAfterError{what: "map streams opening at once", after: time.Second + rand.N(mapAdmitSpread)}
		setRetryAfter(w, err)
		return o, err
	}
	sub, ok := s.hub.subscribe(n.ID)
	if !ok {
		return o, errTooManyStreams
	}
	o.sub = sub
	s.settleOnline(n.ID)
	if beat > 0 {
		o.beats = s.beats.watch(o.ss.machine, time.Now())
	}
	o.sent = s.hub.resumable(n.ID, since)
	return o, nil
}

// supports reports whether the node of map request r knows f, by the
// version it says (wire.MapVersionParam; none: 1).
func supports(r *http.Request, f wire.Feature) bool {
	v, err := strconv.Atoi(r.URL.Query().Get(wire.MapVersionParam))
	return err == nil && wire.Supports(v, f)
}

// mapAdmitSpread spreads the streams refused admission (Config.MapAdmitEvery)
// over this long after a second.
const mapAdmitSpread = 9 * time.Second

// minKeepAlive bounds how often a node's short wait (wire.MapIdleParam)
// may have the coordinator send it keep-alives.
const minKeepAlive = time.Second

// keepAliveFor is the keep-alive interval of a stream whose node waits
// idle milliseconds (wire.MapIdleParam) on a silent stream: a third of
// that, between minKeepAlive and Config.MaxKeepAlive; Config.KeepAlive
// when the node does not say (older nodes wait 45 s).
func (s *control) keepAliveFor(idle string) time.Duration {
	ms, err := strconv.ParseUint(idle, 10, 32)
	if idle == "" || err != nil || ms == 0 {
		return s.cfg.KeepAlive
	}
	return min(max(time.Duration(ms)*time.Millisecond/3, minKeepAlive), s.cfg.MaxKeepAlive)
}

// streamState is one stream's writer and what it sent.
type streamState struct {
	s  *control
	id store.NodeID
	w  io.Writer
	// wait is the loop's turn of the map budget while it waits for one
	// (turnWait), owned by the loop's goroutine.
	wait turnWait
	// rc flushes w and bounds each write (Config.MapWriteTimeout).
	rc *http.ResponseController
	// keepAlive is the stream's keep-alive interval (keepAliveFor), and
	// kaPhase its phase (keepAlivePhase).
	keepAlive, kaPhase time.Duration
	// grantsDelta: the node takes a peer's new grants without its record
	// (wire.FeatureGrantsDelta); srcRefs: a filter rule's sources by
	// reference to the filter it holds (wire.FeatureFilterSrcRefs);
	// srcDelta: a rule's sources as a delta against a list it holds
	// (wire.FeatureFilterSrcDelta).
	grantsDelta, srcRefs, srcDelta bool
	// grantsSwap: peers' grants replaced by value, once per distinct
	// change (wire.FeatureGrantsSwap); binPeers: peer records in binary
	// after the line (wire.FeatureBinaryPeers).
	grantsSwap, binPeers bool
	// sent is what the node holds; its version is 0 until the first
	// message (a resumed stream starts from a copy of an earlier one's).
	sent *sentState
	// buf is the message being written; it goes back to msgBufs after.
	buf []byte
	// nextAt is when the stream may send again after a large message
	// (see paceAfter).
	nextAt time.Time
	// noDeny is set for a node older than wire.FeatureDenyRules, which
	// would read a deny rule as an accept (see withoutDenies).
	noDeny bool
	// beat is the node's beat interval (wire.MapBeatParam; 0: none) and
	// beats its last beat: the stream ends after wire.MissedBeats
	// intervals without one.
	beat  time.Duration
	beats *beatEntry
}

// msgBufs holds message buffers between messages: a stream holds none
// while idle (a gateway's messages are megabytes).
var msgBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer kept for reuse in msgBufs.
const maxPooledBuf = 1 << 20

// bigBufs holds the buffers of messages over maxPooledBuf (a gateway's
// share of a policy change, its first map: megabytes) up to maxBigBuf,
// apart from msgBufs so that the many small messages do not take them.
// A sync.Pool keeps nothing past two collections, so an idle coordinator
// holds none.
//
// Reason: each of 1,000 gateways' messages in a 50,000-node policy change
// was a new buffer of 1.6 MB, zeroed when made (1.3 of the coordinator's
// 26.7 CPU-s over the two changes) and more for its collector.
var bigBufs sync.Pool

// maxBigBuf is the largest buffer kept in bigBufs.
const maxBigBuf = 16 << 20

// bigBuf returns an empty buffer of at least n bytes: one from bigBufs
// when it holds one large enough, else a new one.
func bigBuf(n int) []byte {
	if v, ok := bigBufs.Get().(*[]byte); ok {
		if cap(*v) >= n {
			return (*v)[:0]
		}
		bigBufs.Put(v) // for a smaller message
	}
	return make([]byte, 0, n)
}

// putBuf keeps b for reuse: a buffer of a small message in bp
// (msgBufs' entry), a large one in bigBufs.
func putBuf(bp *[]byte, b []byte) {
	switch c := cap(b); {
	case c <= maxPooledBuf:
		*bp = b[:0]
		msgBufs.Put(bp)
	case c <= maxBigBuf:
		b = b[:0]
		bigBufs.Put(&b)
	}
}

// Large messages are paced: after one of n bytes (a gateway's filter
// lists every sensor, and every sensor that joins changes it), a stream
// waits n / paceRate (at most maxPace) before its next message, so that
// a burst of joins reaches it as one message rather than one per join.
// Messages under paceFrom bytes are not paced.
const (
	paceFrom = 64 << 10
	paceRate = 2 << 20 // bytes a second
	maxPace  = time.Second
)

// paceAfter is how long a stream waits after a message of n bytes.
func paceAfter(n int) time.Duration {
	if n < paceFrom {
		return 0
	}
	return min(maxPace, time.Duration(n)*time.Second/paceRate)
}

// streamLoop sends the first map, then waits: a wake sends what changed,
// a tick a keep-alive (which recomputes nothing). While the stream is
// paced after a large message, a wake sends at once only what removes
// access (sendRemovals), or everything pending when the node's filter
// narrowed (narrowsFilter); the rest goes when the pace ends. A stream
// that asked for beats ends once they are wire.MissedBeats intervals
// overdue.
func (s *control) streamLoop(ctx context.Context, st *streamState, sub *subscriber, expires time.Time) {
	// done ends the stream with its request or with the server: one
	// channel, not two, in the select below (which locks each of its live
	// cases' channels on every wake). A request served by serve descends
	// from the server's context already; any other gets a context of its
	// own that ends with both.
	if !servedBy(ctx, s.core) {
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.ctx, cancel)()
		ctx = c
	}
	done := ctx.Done()
	// One timer serves the keep-alives and the session's end (the sooner
	// of the two), and the pace's is made when a large message first
	// needs it: an idle stream holds one timer (two with beats).
	nextKA := nextKeepAlive(time.Now(), st.kaPhase, st.keepAlive)
	tick := time.NewTimer(time.Until(earliest(nextKA, expires)))
	defer tick.Stop()
	var paced *time.Timer
	defer func() {
		if paced != nil {
			paced.Stop()
		}
	}()
	var due <-chan time.Time // the paced timer while armed
	// beatCheck fires when the node's beats would be overdue
	// (wire.MissedBeats intervals after the last one), then is set again
	// to that time after the latest beat.
	var beatCheck <-chan time.Time
	var beatTimer *time.Timer
	bound := wire.MissedBeats * st.beat
	if st.beat > 0 {
		beatTimer = time.NewTimer(bound)
		defer beatTimer.Stop()
		beatCheck = beatTimer.C
	}
	if !s.firstMap(st, sub, done) {
		return
	}
	// st.wait is the stream's place in the budget's queue while it waits
	// for a turn: meanwhile removals go at once and the update waits.
	w := &st.wait
	defer func() { s.budget.cancel(w.turn) }()
	for {
		if due != nil || w.waiting != nil {
			// The pace's timer or the budget's turn will send what is
			// pending: changes that only add need not wake the loop.
			sub.arm()
		}
		select {
		case <-done:
			return
		case <-w.waiting:
			s.metrics.turnStart.Observe(time.Since(w.turn.givenAt).Seconds())
			w.turn, w.waiting = nil, nil
			if !st.sendUpdate(sub, false) {
				return
			}
		case <-sub.wake:
			if w.waiting != nil {
				// The update waits for its turn; what removes access
				// does not: the removals go at once, and everything
				// pending when the filter narrows.
				if sub.onlyAdds() {
					continue // joins: nothing to remove or check
				}
				if !s.aside(st, sub) {
					return
				}
				continue
			}
			d := time.Until(st.nextAt)
			narrows := false
			quiet := d > 0 && sub.onlyAdds() // joins wait for the pace
			if d > 0 && !quiet {
				st.s.urgent.do(func() { narrows = st.narrowsFilter(sub) })
			}
			if d <= 0 || narrows {
				if !s.update(st, sub, narrows) {
					return
				}
				continue
			}
			if !quiet && !st.sendRemovals(sub) {
				return
			}
			if due == nil {
				if paced == nil {
					paced = time.NewTimer(d)
				} else {
					paced.Reset(d)
				}
				due = paced.C
			}
		case <-due:
			due = nil
			if w.waiting != nil {
				continue // the turn sends what is pending
			}
			if !s.update(st, sub, false) {
				return
			}
		case now := <-beatCheck:
			if silent := st.beats.silentFor(now); silent >= bound {
				s.log.Warn("node stopped beating; ending its map stream", "node_id", st.id, "silent", silent.Round(time.Millisecond))
				s.metrics.beatsMissed.Inc()
				return
			}
			beatTimer.Reset(bound - st.beats.silentFor(now))
		case now := <-tick.C:
			if !now.Before(expires) {
				return // the session ended
			}
			if !now.Before(nextKA) {
				if !st.keepAliveNow() {
					return
				}
				nextKA = nextKeepAlive(now, st.kaPhase, st.keepAlive)
			}
			tick.Reset(time.Until(earliest(nextKA, expires)))
		}
	}
}

// turnWait is a stream loop's place in the map budget's queue while it
// waits for a turn (turn, and its granted channel in waiting; nil when
// none), owned by the loop's goroutine. It lives in the stream's state,
// not in streamLoop's frame, and update and aside are methods, not
// closures there: a parked stream's stack is halved by the runtime only
// while under a quarter of it is in use, and a few hundred bytes more in
// the parked frame kept most streams at 16 KB instead of 8
// (TestParkedStreamStackStaysSmall: 17-19 KB a stream, both ends, against
// 11-12).
type turnWait struct {
	turn    *mapTurn
	waiting <-chan struct{}
}

// update sends st's pending update when the budget gives a turn now or
// the node's filter narrows (narrows: known so; else checked when the
// turn would wait), else sends the removals and waits for the turn
// (st.wait).
func (s *control) update(st *streamState, sub *subscriber, narrows bool) bool {
	if narrows {
		s.budget.force()
		return st.sendUpdate(sub, false)
	}
	t, now := s.budget.ask()
	if now {
		return st.sendUpdate(sub, false)
	}
	st.wait = turnWait{turn: t, waiting: t.granted}
	if sub.onlyAdds() {
		return true // nothing to remove, nothing narrows
	}
	return s.aside(st, sub)
}

// aside checks, for a stream waiting for its turn, whether its filter
// narrowed (then everything pending goes at once) and else sends its
// removals, with the turn set aside meanwhile (mapBudget.setAside): the
// budget gives the turns to streams ready to use them. A turn given
// before that is taken now: its update sends the removals too.
func (s *control) aside(st *streamState, sub *subscriber) bool {
	w := &st.wait
	if s.budget.setAside(w.turn) {
		s.metrics.turnStart.Observe(time.Since(w.turn.givenAt).Seconds())
		*w = turnWait{}
		return st.sendUpdate(sub, false)
	}
	narrows := false
	st.s.urgent.do(func() { narrows = st.narrowsFilter(sub) })
	if narrows {
		s.budget.cancel(w.turn)
		*w = turnWait{}
		s.budget.force()
		return st.sendUpdate(sub, false)
	}
	ok := st.sendRemovals(sub)
	s.budget.putBack(w.turn)
	return ok
}

// firstMap sends a stream's first map once the map budget gives it a
// turn (nothing is held yet, so there is nothing to remove meanwhile);
// false when the stream must end. A function of its own, not part of
// streamLoop: what it needs on the stack is gone by the time the stream
// parks, and a parked stream's stack is halved by the runtime only while
// under a quarter of it is in use (TestParkedStreamStackStaysSmall).
func (s *control) firstMap(st *streamState, sub *subscriber, done <-chan struct{}) bool {
	first, now := s.budget.ask()
	if !now {
		select {
		case <-first.granted:
			s.metrics.turnStart.Observe(time.Since(first.givenAt).Seconds())
		case <-done:
			s.budget.cancel(first)
			return false
		}
	}
	return st.sendUpdate(sub, true)
}

type servedByKey struct{}

// withServedBy marks ctx, a descendant of c's context, as the base of
// requests c serves (serve's BaseContext).
func withServedBy(ctx context.Context, c *core) context.Context {
	return context.WithValue(ctx, servedByKey{}, c)
}

// servedBy reports whether ctx descends from c's context (withServedBy),
// so that it ends when c closes.
func servedBy(ctx context.Context, c *core) bool {
	v, _ := ctx.Value(servedByKey{}).(*core)
	return v == c
}

// Keep-alives come on a grid: a stream's come at the moments kaEpoch +
// its phase + k * its interval, and the streams of one connection (up to
// kaGroup of them) share a phase, so that those with the same interval
// send their keep-alives at the same moment. The connection's HTTP/2
// serve loop then often writes several in one system call (it writes
// what was queued while its last write was under way together), where
// each stream's own moment cost one write (and a goroutine to make it)
// per keep-alive: those writes were a quarter to a third of an idle
// coordinator's CPU. At 5,000 nodes, 6 streams a connection: 0.90 writes
// a keep-alive before, 0.62 with the grid. Connections (and groups within one) get random
// phases, so a fleet's keep-alives stay spread over the interval; a
// group is bounded so that a load balancer's connection carrying
// thousands of streams does not wake them all at once.
const kaGroup = 32

// kaEpoch is the origin of the keep-alive grid.
var kaEpoch = time.Now()

// connKeepAlive is what a connection's streams share for their
// keep-alives' phase (withConnKeepAlive).
type connKeepAlive struct {
	// phase is the connection's first group's phase.
	phase time.Duration
	// streams counts the streams that took a phase.
	streams atomic.Uint32
}

type connKeepAliveKey struct{}

// withConnKeepAlive is the fleet listener's http.Server ConnContext: it
// gives each connection its keep-alive phase.
func withConnKeepAlive(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKeepAliveKey{}, &connKeepAlive{phase: rand.N(time.Hour)})
}

// keepAlivePhase is the keep-alive phase of a stream whose request has
// ctx: its connection's group's (each kaGroup streams a group of their
// own, with a phase of its own), 0 when the connection has none.
func keepAlivePhase(ctx context.Context) time.Duration {
	c, ok := ctx.Value(connKeepAliveKey{}).(*connKeepAlive)
	if !ok {
		return 0
	}
	group := (c.streams.Add(1) - 1) / kaGroup
	if group == 0 {
		return c.phase
	}
	// Another group: a phase from the connection's and the group's
	// number, spread by a multiplicative hash.
	return c.phase + time.Duration(uint64(group)*0x9E3779B97F4A7C15%uint64(time.Hour))
}

// nextKeepAlive is the first moment after now on the grid of phase and
// interval ka: never more than ka away.
func nextKeepAlive(now time.Time, phase, ka time.Duration) time.Time {
	if ka <= 0 {
		return now.Add(ka) // no grid (a configuration the defaults do not make)
	}
	off := phase % ka
	since := now.Sub(kaEpoch) - off
	k := since / ka
	if since < 0 && since%ka != 0 {
		k-- // floor
	}
	return kaEpoch.Add(off + (k+1)*ka)
}

// appendKeepAlive appends a keep-alive message (and its newline) to b:
// the JSON json.Marshal makes of wire.MapResponse{KeepAlive: true,
// Version: version, ServerTime: now}, made without reflection, so that
// the handler goroutine's stack stays small (see offload).
func appendKeepAlive(b []byte, version uint64, now time.Time) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, `,"keep_alive":true`...)
	if !now.IsZero() {
		b = append(b, `,"server_time":"`...)
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// write writes b and flushes it (b may be empty: a flush alone) within
// the map write timeout. It returns false when the stream must end: the
// connection failed, or the node stopped reading and the write did not
// finish in time (its connection is then closed, which frees the stream).
//
// The write runs on a goroutine of its own, which ends with it: net/http's
// write path under the loop's frames needs a little more than a 4 KB
// stack leaves, and a stack grown to 8 KB stays 8 KB while parked (see
// offload), so done here it cost every parked stream 4 KB more. The
// caller waits, so the writer is used by one goroutine at a time, and a
// node that stops reading holds this goroutine (and its stream's), no
// other.
func (st *streamState) write(b []byte) bool {
	return writeOff(func() bool { return st.writeNow(b) })
}

// keepAliveNow writes a keep-alive, encoded on the writing goroutine too.
func (st *streamState) keepAliveNow() bool {
	v := st.s.hub.version.Load()
	return writeOff(func() bool { return st.writeNow(appendKeepAlive(nil, v, time.Now().UTC())) })
}

// writeOff runs f on a goroutine of its own and returns its result; a
// panic in f is raised again on the caller's goroutine (where net/http
// recovers a handler's).
func writeOff(f func() bool) bool {
	type result struct {
		ok       bool
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			done <- r
		}()
		r.ok = f()
	}()
	r := <-done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.ok
}

// writeNow is write on the caller's goroutine.
//
// The write is bounded by a timer of this process (writeBound), not by
// the response's write deadline: over HTTP/2 each SetWriteDeadline is a
// message to the connection's serve loop (its goroutine woken, a timer
// made or stopped there), and a deadline must be cleared again after the
// write (it is a timer that resets the stream when it fires, written to
// or not), so bounding each keep-alive that way cost two round trips to
// the serve loop beside the write's own. Now the deadline is touched
// only when a write overran: set in the past, which resets the stream at
// once (HTTP/2) or fails the connection's write (HTTP/1.1).
func (st *streamState) writeNow(b []byte) (ok bool) {
	wb := st.writeBound()
	defer func() { ok = wb.done() && ok }() // on a panic too: the bound must not outlive the handler
	if len(b) > 0 {
		if _, err := st.w.Write(b); err != nil {
			return false
		}
	}
	return st.rc.Flush() == nil
}

// writeBound ends a write that takes longer than Config.MapWriteTimeout:
// a node that stops reading fills its flow-control window (or its
// connection's buffers), and its write then waits until the bound ends
// it.
type writeBound struct {
	t *time.Timer
	// fired is closed once the timer's function returned.
	fired chan struct{}
}

// writeBound starts the bound of one write of st; the caller calls done
// when the write returned.
func (st *streamState) writeBound() writeBound {
	wb := writeBound{fired: make(chan struct{})}
	rc := st.rc
	wb.t = time.AfterFunc(st.s.cfg.MapWriteTimeout, func() {
		defer close(wb.fired)
		// A deadline in the past: HTTP/2 resets the stream now (its
		// write returns the stream's end), HTTP/1.1 fails the
		// connection's writes. Not supported: nothing more to do here
		// (the connection's WriteByteTimeout still bounds it).
		_ = rc.SetWriteDeadline(time.Unix(0, 1))
	})
	return wb
}

// done reports whether the write ended within its bound; false: the
// bound fired and the stream must end. It returns only once the timer's
// function returned, so that nothing touches the response after the
// handler returns.
func (wb writeBound) done() bool {
	if wb.t.Stop() {
		return true
	}
	<-wb.fired
	return false
}

// sendUpdate writes the full map, or the delta of what is pending, if
// anything changed. The caller holds a turn of the map budget (given by
// mapBudget.ask), which sendUpdate gives back. first (the stream's first
// message) and a pending "all" diff the whole map against what the node
// holds. It returns false
// when the stream must end. The message is made on a worker (offload),
// written on the caller's goroutine.
func (st *streamState) sendUpdate(sub *subscriber, first bool) bool {
	var u update
	// The caller holds a turn of the budget (mapBudget): the message's
	// bytes count against it until written (or until a panic drops it).
	var release func()
	defer func() {
		if release == nil {
			st.s.budget.made(0)
		} else {
			release()
		}
	}()
	st.s.making.do(func() { u = st.prepareUpdate(sub, first) })
	made := 0
	if u.changed {
		made = len(u.b)
	}
	st.s.budget.made(made)
	release = st.s.budget.holdFor(made)
	written := true
	if u.changed {
		written = st.write(u.b)
		st.nextAt = time.Now().Add(st.s.pace(len(u.b)))
	}
	if u.bp != nil {
		putBuf(u.bp, u.b)
	}
	if !u.ok || !u.changed || !written {
		return u.ok && written
	}
	st.s.metrics.mapSends.Inc()
	if u.since != 0 {
		st.s.metrics.mapLatency.Observe(time.Since(time.Unix(0, u.since)).Seconds())
	}
	return true
}

// update is a message prepareUpdate made: b (in the pooled buffer bp,
// which the caller returns to msgBufs) when changed; ok is false when the
// stream must end; since is when the oldest change in it was signalled.
type update struct {
	b       []byte
	bp      *[]byte
	changed bool
	ok      bool
	since   int64
}

// prepareUpdate makes sendUpdate's message and updates st.sent to it.
func (st *streamState) prepareUpdate(sub *subscriber, first bool) update {
	pend := sub.take()
	since := sub.since.Swap(0)
	whole := first || pend.all
	var only []store.NodeID
	if !whole {
		only = pend.ids()
	}
	relays := st.s.relays.current()
	if !whole && len(only) == 0 && !pend.filter && relays == st.sent.relays {
		return update{ok: true}
	}
	ms, ok := st.s.nm.mapOf(st.id, only, whole || pend.filter)
	st.s.metrics.mapBuilds.WithLabelValues(buildKind(whole)).Inc()
	if !ok {
		return update{} // node removed
	}
	bp := msgBufs.Get().(*[]byte)
	st.buf = (*bp)[:0]
	// The state is updated before the write, outside its lock during it: a
	// reconnecting node's new stream copies it (hub.resumable) and must not
	// wait on a write to a dead connection. A message that fails to go
	// leaves a version the node never saw, so no resume matches it.
	st.sent.mu.Lock()
	b, changed := st.build(ms, whole, relays)
	st.sent.mu.Unlock()
	u := update{b: st.buf, bp: bp, changed: changed, ok: true, since: since}
	if changed {
		u.b = b
	}
	st.buf = nil
	return u
}

// sendRemovals writes at once, paced or not, the removals among what is
// pending: peers that left the node's map (removed, revoked, expired, or
// no longer allowed) and, on a change to the node itself, its own
// revocation. What is pending stays pending: the next sendUpdate sends
// the rest (and finds these already removed). It returns false when the
// stream must end. The message is made on a worker (offload), written on
// the caller's goroutine.
func (st *streamState) sendRemovals(sub *subscriber) bool {
	var (
		b  []byte
		ok bool
	)
	st.s.urgent.do(func() { b, ok = st.prepareRemovals(sub) })
	if !ok || b == nil {
		return ok
	}
	if !st.write(b) {
		return false
	}
	st.s.metrics.mapSends.Inc()
	return true
}

// prepareRemovals makes sendRemovals' message (nil: nothing to send) and
// updates st.sent to it; ok is false when the stream must end.
func (st *streamState) prepareRemovals(sub *subscriber) (msg []byte, ok bool) {
	cand, all := sub.removable()
	var self *wire.Node
	if all {
		n, ok := st.s.nm.selfOf(st.id)
		if !ok {
			return nil, false // node removed
		}
		self = &n
	}
	if !all && len(cand) == 0 {
		return nil, true
	}
	var absent []store.NodeID
	ok = true
	if all {
		// Every peer held is a candidate: the answer is shared by the
		// nodes of the class holding the same entries (absentOfAll).
		st.sent.mu.Lock()
		held := st.sent.peers.key()
		st.sent.mu.Unlock()
		if held.n > 0 {
			absent, ok = st.s.nm.absentOfAll(st.id, held, func() []store.NodeID {
				st.sent.mu.Lock()
				defer st.sent.mu.Unlock()
				ids := make([]store.NodeID, 0, st.sent.peers.len())
				st.sent.peers.ids(func(id wire.NodeID) { ids = append(ids, store.NodeID(id)) })
				return ids
			})
		}
	} else {
		absent, ok = st.s.nm.absentOf(st.id, cand, false)
	}
	st.s.metrics.mapBuilds.WithLabelValues("removals").Inc()
	if !ok {
		return nil, false // node removed
	}
	st.sent.mu.Lock()
	var head wire.MapResponse
	ids := make([]wire.NodeID, len(absent))
	for i, id := range absent {
		ids[i] = wire.NodeID(id)
	}
	slices.Sort(ids) // absentOfAll's are sorted already
	head.PeersRemoved = st.sent.peers.removeAll(ids)
	if self != nil && st.sent.version != 0 && (self.KeyRevoked && !st.sent.revoked || self.OwnerDisabled && !st.sent.disabled) {
		head.Self = self
		st.sent.setSelf(st.s.nm.src.selfSum(self), self)
	}
	if len(head.PeersRemoved) == 0 && head.Self == nil {
		st.sent.mu.Unlock()
		return nil, true
	}
	slices.Sort(head.PeersRemoved)
	head.Version = st.s.hub.nextVersion()
	head.ServerTime = time.Now().UTC()
	st.sent.version = head.Version
	st.sent.mu.Unlock()
	b, _ := json.Marshal(head)
	return append(b, '\n'), true
}

// srcRefs returns, for each of rules, the index of the held rule
// (sentState.rules) whose sources equal its own, or -1; nil when none is
// held. Lists are compared by content: a recompile makes new lists of
// the same sources.
func srcRefs(rules, held []filter.Rule) []int {
	var out []int
	for i, r := range rules {
		j := slices.IndexFunc(held, func(h filter.Rule) bool {
			return len(h.Src) == len(r.Src) && len(h.Src) > 0 && (&h.Src[0] == &r.Src[0] || slices.Equal(h.Src, r.Src))
		})
		if j >= 0 && out == nil {
			out = make([]int, len(rules))
			for k := range i {
				out[k] = -1
			}
		}
		if out != nil {
			out[i] = j
		}
	}
	return out
}

func buildKind(whole bool) string {
	if whole {
		return "whole"
	}
	return "delta"
}

// build makes the message from ms and updates st.sent (held) to it; ok
// is false when the node already holds all of it.
func (st *streamState) build(ms mapState, whole bool, relays *[]wire.Relay) ([]byte, bool) {
	sent := st.sent
	full := sent.version == 0
	var head wire.MapResponse
	changed := false
	// A whole map makes the node's peer set anew; a delta changes the held
	// one in place (after each peer's comparison).
	var fresh *sentPeersBuilder
	if whole {
		fresh = newSentPeersBuilder(len(ms.peers))
	}
	// enc holds the records to send, grants the new grants of peers
	// whose record the node holds (grants-delta streams only).
	var enc, grants []encPeer
	// moved is, per entry of grants, the ids of the old and new grants
	// (whole maps to grants-swap streams only: see grantSwaps).
	var moved []grantMove
	// block is enc's binary block when a class's diff made it.
	var block []byte
	// bin is the tables a binary stream's records refer to (nil for a
	// JSON stream), for the block and the message both.
	var bin *peerTables
	if st.binPeers {
		bin = &peerTables{grants: st.s.grants, routes: st.s.routes}
	}
	if whole && ms.class != nil {
		// The node's view class's entries, made once for the class, and
		// the diff from a shared set it held, made once too (viewclass.go).
		v := st.viewOf(ms.class, ms.selfAddrs)
		d, now, shared := st.diffView(v, wire.NodeID(st.id), &sent.peers, full)
		enc, grants, head.PeersRemoved, head.PeersGrantsSwap = d.enc, d.grants, d.removed, d.swaps
		if bin != nil && shared && len(d.enc) > 0 {
			var made bool
			block, made = d.block(bin)
			switch {
			case made && block != nil:
				st.s.metrics.mapViews.WithLabelValues("block").Inc()
			case block != nil:
				st.s.metrics.mapViews.WithLabelValues("block-shared").Inc()
			}
		}
		sent.peers = now
		fresh = nil
	}
	for _, p := range ms.peers {
		gid, genc := st.s.grants.intern(st.s.nm.grants(p, ms.selfAddrs))
		routes := st.s.nm.viewerRoutes(p, ms.selfAddrs)
		rid, renc := st.s.routes.internRoutes(routes, st.s.nm.viewerHosts(p, ms.selfAddrs, routes))
		id, sp := p.rec.node.ID, sentPeer{ver: p.rec.ver, grants: gid, routes: rid}
		old, ok := sent.peers.get(id)
		switch {
		case full || !ok || old.ver != sp.ver || old.routes != sp.routes || old.grants != sp.grants && !st.grantsDelta:
			enc = append(enc, encPeer{id: id, enc: p.rec.json(gid, genc, rid, renc), rec: p.rec, gid: gid, rid: rid})
		case old.grants != sp.grants:
			grants = append(grants, encPeer{id: id, enc: genc})
			if whole && st.grantsSwap {
				moved = append(moved, grantMove{from: old.grants, to: gid})
			}
		}
		if whole {
			fresh.add(id, sp)
		} else {
			sent.peers.set(id, sp)
		}
	}
	if fresh != nil {
		peers := fresh.done()
		sent.peers.ids(func(id wire.NodeID) {
			if !peers.has(id) {
				head.PeersRemoved = append(head.PeersRemoved, id)
			}
		})
		if len(moved) > 0 {
			grants, head.PeersGrantsSwap = st.s.grants.swaps(grants, moved, &sent.peers, &peers)
		}
		sent.peers = peers
	} else if !whole {
		for _, id := range ms.absent {
			if sent.peers.remove(wire.NodeID(id)) {
				head.PeersRemoved = append(head.PeersRemoved, wire.NodeID(id))
			}
		}
	}
	changed = len(enc) > 0 || len(grants) > 0 || len(head.PeersRemoved) > 0 || len(head.PeersGrantsSwap) > 0
	var selfSum uint64
	if whole {
		selfSum = st.s.nm.src.selfSum(&ms.self)
	}
	if whole && (full || selfSum != sent.self) {
		self := ms.self
		head.Self, changed = &self, true
	}
	rules := ms.filter
	var srcFrom []int
	var deltas []ruleDelta
	if st.noDeny {
		rules = withoutDenies(rules)
	}
	// The sum is of the rules this node is sent (without denies for an old
	// node), so a stream resumed across a change of the node's version
	// sends its filter again.
	if sum := st.s.nm.src.filterSum(rules); ms.filter != nil && (full || sum != sent.filter) {
		head.FilterChanged, changed = true, true
		if st.srcRefs && !full {
			srcFrom = srcRefs(rules, sent.rules)
			if st.srcDelta {
				srcFrom, deltas = st.s.nm.src.srcDeltasOf(rules, sent.rules, srcFrom, st.s.cfg.SrcDeltaMin)
			}
		}
		sent.filter, sent.rules = sum, rules
	} else {
		rules = nil
	}
	if full || relays != sent.relays {
		head.Relays, head.RelaysChanged, changed = *relays, !full, true
	}
	if !changed {
		return nil, false
	}
	if !slices.IsSorted(head.PeersRemoved) { // a class's diff is sorted, and shared
		slices.Sort(head.PeersRemoved)
	}
	head.Full = full
	if full {
		head.DNSDomain = st.s.nm.domain
	}
	head.Version = st.s.hub.nextVersion()
	head.ServerTime = time.Now().UTC()
	key := "peers_changed"
	if full {
		key = "peers"
	}
	st.buf = appendMsg(st.buf[:0], &head, key, enc, grants, rules, srcFrom, deltas, st.s.nm.src, bin, block)
	sent.version, sent.relays = head.Version, relays
	if head.Self != nil {
		sent.setSelf(selfSum, &ms.self)
	}
	return st.buf, true
}

// settleOnline marks node id online when it has a stream here and offline
// when it has none, if that changes its mark, under its lock (onlineMarks):
// a stream opening while another closes cannot interleave its check and
// mark with the other's.
func (s *control) settleOnline(id store.NodeID) {
	defer s.marks.lock(id)()
	on := s.hub.connected(id)
	if hook := s.settleHook.Load(); hook != nil {
		(*hook)(id, on)
	}
	if !s.marks.flip(id, on) {
		return
	}
	state := "offline"
	if on {
		state = "online"
		s.metrics.nodesOnline.Inc()
	} else {
		s.metrics.nodesOnline.Dec()
	}
	s.metrics.presence.WithLabelValues(state).Inc()
	if !on && s.ctx.Err() != nil {
		return // shutting down: the store may be closing
	}
	now := time.Now().UTC()
	s.presence.record(id, now, on)
	if !on && s.cfg.DB != "" {
		return // another coordinator may hold a stream of the node: the presence write tells (applyPresences)
	}
	s.hub.notifyPresence(id, s.nm.setOnline(id, on, now))
	s.notifyRouteViewers(id)
}

// applyPresences puts into force presences as the store holds them: a
// node is online while any coordinator holds a stream of it (always when
// this one does), and its peers and route viewers hear when that changes
// here. Each node's check and mark run under its lock, as settleOnline's.
func (s *control) applyPresences(ps []store.Presence) {
	for _, p := range ps {
		s.applyPresence(p)
	}
}

func (s *control) applyPresence(p store.Presence) {
	defer s.marks.lock(p.ID)()
	on := p.Online || s.hub.connected(p.ID)
	if s.nm.isOnline(p.ID) == on {
		return
	}
	seen := p.LastSeen
	if seen.IsZero() {
		seen = time.Now().UTC()
	}
	s.hub.notifyPresence(p.ID, s.nm.setOnline(p.ID, on, seen))
	s.notifyRouteViewers(p.ID)
}
