package coordinator

import "sync"

// leaderQueue is the hand-off of a group commit (auditBatcher,
// regBatcher): a caller that finds no write under way leads and writes
// what is queued; one that finds a write under way waits in the queue.
// When a leader is done and the queue is not empty, the first waiter is
// told to lead next (next), and writes the queue, itself included.
type leaderQueue[T any] struct {
	mu sync.Mutex // mu guards the following
	// pend holds the requests waiting for the next write.
	pend []T
	// writing is true while a leader writes a batch.
	writing bool
}

// join queues r and reports whether its caller leads the next write.
func (q *leaderQueue[T]) join(r T) (lead bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pend = append(q.pend, r)
	lead = !q.writing
	q.writing = true
	return lead
}

// take removes up to max requests from the head of the queue for the
// leader to write.
func (q *leaderQueue[T]) take(max int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pend), max)
	batch := q.pend[:n:n]
	q.pend = q.pend[n:]
	return batch
}

// next ends a leader's write: it returns the waiter to lead next (ok), or
// marks that no write is under way when none waits.
func (q *leaderQueue[T]) next() (r T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pend) > 0 {
		return q.pend[0], true
	}
	q.writing = false
	return r, false
}
