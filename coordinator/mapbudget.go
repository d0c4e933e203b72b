package coordinator

import (
	"container/heap"
	"sync"
	"time"
)

// mapBudget bounds the bytes of map messages made and not yet written,
// across every stream (Config.MapWriteBudget).
//
// Reason: a policy change wakes every stream for its whole map, and a
// message stays in memory until its node has read it. At 50,000 nodes of
// the default shape each of the 1,000 gateways' maps is 10-17 MB and each
// of the 12,250 cameras' half a megabyte: made all at once (eight workers
// make them far faster than the nodes read them) they held gigabytes, and
// the coordinator was killed for memory in the first policy change. Now a
// stream takes a turn before it makes its message: a turn is given while
// the bytes made and unwritten are under the budget and fewer than
// maxMaking turns are making theirs (their size is not known until made),
// in the order asked. What is in memory is thus at most the budget plus
// maxMaking of the largest messages. A message larger than the budget
// still goes, when the bytes in flight are under it.
//
// A stream waiting for its turn is not blocked: its loop sends the
// pending removals and revocations at once (sendRemovals, as during a
// pace), answers keep-alives, and makes its message when the turn comes,
// with whatever is pending then. A message that narrows the node's
// filter does not wait (force): like the pace, the budget delays only
// what adds. A turn's holder never waits on another
// turn: the write it waits on is bounded by Config.MapWriteTimeout.
type mapBudget struct {
	// limit is the budget in bytes; maxMaking the turns making at once;
	// hold the longest a message's bytes count against it (holdFor).
	limit     int64
	maxMaking int
	hold      time.Duration

	// mu guards the fields below.
	mu sync.Mutex
	// inFlight is the bytes of messages made and not yet written.
	inFlight int64
	// making is the turns given whose message is not made yet.
	making int
	// queue holds the streams waiting for a turn and ready to take one,
	// the first asked first (a heap by mapTurn.seq); aside counts those
	// waiting whose holder is busy (setAside), which are not in it.
	queue turnQueue
	aside int
	// asked numbers the turns in the order asked.
	asked uint64
	// peak is the most inFlight has been (ward_map_budget_peak_bytes).
	peak int64
}

// mapTurn is one stream's turn: granted is closed when it is given.
type mapTurn struct {
	granted chan struct{}
	// The fields below are guarded by mapBudget.mu. given is set when the
	// turn is given, givenAt with it (read by the holder once granted is
	// closed); seq is the turn's place in the order asked; at its index
	// in the queue, -1 while not in it; aside is set while its holder is
	// busy (setAside).
	given   bool
	givenAt time.Time
	seq     uint64
	at      int
	aside   bool
}

// turnQueue is a heap of waiting turns, the first asked at the top
// (container/heap).
type turnQueue []*mapTurn

func (q turnQueue) Len() int           { return len(q) }
func (q turnQueue) Less(i, j int) bool { return q[i].seq < q[j].seq }
func (q turnQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].at, q[j].at = i, j
}
func (q *turnQueue) Push(x any) {
	t := x.(*mapTurn)
	t.at = len(*q)
	*q = append(*q, t)
}
func (q *turnQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.at = -1
	return t
}

// newMapBudget returns a budget of limit bytes (nil: no budget) with at
// most maxMaking turns making their message at once.
func newMapBudget(limit int64, maxMaking int) *mapBudget {
	if limit <= 0 {
		return nil
	}
	return &mapBudget{limit: limit, maxMaking: max(1, maxMaking), hold: mapBudgetHold}
}

// mapBudgetHold is the longest a message's bytes count against the budget
// while its write goes on. Reason: a node that stops reading holds its
// write for Config.MapWriteTimeout (30 s); counted for all that time, a
// few such nodes with large maps (a gateway's is megabytes) would fill
// the budget and stall every other stream's updates for as long. After
// the hold the bytes are still in memory until written, but no longer
// keep the others waiting; nodes that read, however slowly, free theirs
// sooner.
const mapBudgetHold = 2 * time.Second

// holdFor counts n bytes made (made) against the budget until the
// returned release is called (once the message is written or dropped)
// or b.hold has passed, whichever comes first.
func (b *mapBudget) holdFor(n int) (release func()) {
	if b == nil || n == 0 {
		return func() {}
	}
	var once sync.Once
	free := func() { once.Do(func() { b.written(n) }) }
	t := time.AfterFunc(b.hold, free)
	return func() {
		t.Stop()
		free()
	}
}

// ask asks for a turn. A turn given at once is returned with now true;
// else the caller waits for t.granted and must cancel t if it stops
// waiting. A nil budget gives every turn at once.
func (b *mapBudget) ask() (t *mapTurn, now bool) {
	t = &mapTurn{granted: make(chan struct{}), at: -1}
	if b == nil {
		t.given = true
		close(t.granted)
		return t, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked++
	t.seq = b.asked
	if len(b.queue) == 0 && b.freeLocked() {
		b.giveLocked(t)
		return t, true
	}
	heap.Push(&b.queue, t)
	return t, false
}

// setAside tells the budget that t's holder is busy (its removals, the
// check whether its filter narrowed) and could not take its turn now: t
// keeps its place in the order asked, but no turn is given to it until
// putBack, so that a busy holder does not hold one of the maxMaking
// turns while others wait ready. It reports whether t was given already
// (then nothing is set aside: the caller takes its turn now).
//
// Reason: a policy change wakes every stream; each asks for its turn
// and, while waiting, checks its removals on the urgent workers, where
// thousands queue. A turn given to a stream waiting there counted as
// making its message until the stream got back, so the few turns went
// to streams that could not use them while the ready ones waited.
func (b *mapBudget) setAside(t *mapTurn) (given bool) {
	if b == nil || t == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.given {
		return true
	}
	if t.at >= 0 {
		heap.Remove(&b.queue, t.at)
	}
	if !t.aside {
		t.aside = true
		b.aside++
	}
	return false
}

// putBack ends setAside: t waits again in its place, and may be given at
// once.
func (b *mapBudget) putBack(t *mapTurn) {
	if b == nil || t == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !t.aside {
		return
	}
	t.aside = false
	b.aside--
	heap.Push(&b.queue, t)
	b.wakeLocked()
}

// force takes a turn at once, whatever is in flight and whoever waits:
// for a message that narrows the node's filter, which never waits (see
// streamLoop). The caller gives it back as any turn (made, written).
func (b *mapBudget) force() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.making++
}

// cancel withdraws t, which the caller no longer waits for; a turn
// already given is handed back (as made with nothing).
func (b *mapBudget) cancel(t *mapTurn) {
	if b == nil || t == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case t.given:
		b.making--
		b.wakeLocked()
	case t.aside:
		t.aside = false
		b.aside--
	case t.at >= 0:
		heap.Remove(&b.queue, t.at)
	}
}

// made records that a turn's message is made, n bytes (0: nothing to
// send); the caller calls written(n) once it is written or dropped (or
// uses holdFor).
func (b *mapBudget) made(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.making--
	b.inFlight += int64(n)
	b.peak = max(b.peak, b.inFlight)
	b.wakeLocked()
}

// written records that n bytes made (made) are written or dropped.
func (b *mapBudget) written(n int) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight -= int64(n)
	b.wakeLocked()
}

// stats returns the bytes in flight, the most they have been, and the
// streams waiting for a turn.
func (b *mapBudget) stats() (inFlight, peak int64, waiting int) {
	if b == nil {
		return 0, 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight, b.peak, len(b.queue) + b.aside
}

// makingNow returns the turns given whose message is not made yet.
func (b *mapBudget) makingNow() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.making
}

func (b *mapBudget) freeLocked() bool {
	return b.making < b.maxMaking && b.inFlight < b.limit
}

func (b *mapBudget) giveLocked(t *mapTurn) {
	b.making++
	t.given = true
	t.givenAt = time.Now()
	close(t.granted)
}

// wakeLocked gives turns to the first in the queue while they fit.
func (b *mapBudget) wakeLocked() {
	for len(b.queue) > 0 && b.freeLocked() {
		b.giveLocked(heap.Pop(&b.queue).(*mapTurn))
	}
	if len(b.queue) == 0 {
		b.queue = nil
	}
}
