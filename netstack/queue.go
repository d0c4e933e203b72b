package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// packetQueue is a bounded FIFO of outbound packets between gVisor (many
// writers) and wireguard-go's TUN reader (one reader at a time).
type packetQueue struct {
	// wake holds a token when the queue became non-empty; capacity 1.
	wake chan struct{}
	// done is closed by close.
	done chan struct{}

	// mu guards the following.
	mu     sync.Mutex
	ring   []*stack.PacketBuffer
	head   int // index of the oldest packet
	n      int // number of queued packets
	closed bool
}

func newPacketQueue(capacity int) *packetQueue {
	return &packetQueue{
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		ring: make([]*stack.PacketBuffer, capacity),
	}
}

// push queues pkt, taking over the caller's reference. It reports false,
// leaving the reference with the caller, when the queue is full or closed.
func (q *packetQueue) push(pkt *stack.PacketBuffer) bool {
	q.mu.Lock()
	if q.closed || q.n == len(q.ring) {
		q.mu.Unlock()
		return false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = pkt
	q.n++
	first := q.n == 1
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// pop moves up to len(dst) packets into dst and returns how many, with
// their references. It returns 0 only when the queue is empty.
func (q *packetQueue) pop(dst []*stack.PacketBuffer) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(len(dst), q.n)
	for i := range k {
		j := (q.head + i) % len(q.ring)
		dst[i], q.ring[j] = q.ring[j], nil
	}
	q.head = (q.head + k) % len(q.ring)
	q.n -= k
	return k
}

// wait blocks until the queue may be non-empty (true) or is closed (false).
func (q *packetQueue) wait() bool {
	select {
	case <-q.wake:
		return true
	case <-q.done:
		return false
	}
}

// close wakes waiters, refuses further pushes and releases queued packets.
// It is idempotent.
func (q *packetQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	close(q.done)
	for ; q.n > 0; q.n-- {
		q.ring[q.head].DecRef()
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
	}
}
