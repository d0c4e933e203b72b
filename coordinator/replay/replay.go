// Package replay remembers which one-time values (challenges, login
// states) were used lately, in a bounded window, so that a second use is
// refused. The window holds the last N values and forgets the oldest
// first: adding never fails, so filling it can never refuse a new value,
// only let a value older than the last N through again. Callers pair it
// with an expiry carried by the value itself, and size it so that N values
// take longer than that lifetime to arrive in normal use.
package replay

import "sync"

// Window is the last max values added. It is safe for concurrent use.
type Window[K comparable] struct {
	mu sync.Mutex // mu guards the following
	// seen holds the values in ring.
	seen map[K]struct{}
	ring []K
	// next is the ring slot to write next; full says whether it holds a
	// value to forget first.
	next int
	full bool
}

// New returns an empty window of size values (at least 1).
func New[K comparable](size int) *Window[K] {
	return &Window[K]{seen: make(map[K]struct{}), ring: make([]K, max(size, 1))}
}

// Add records k and reports whether it was not already in the window.
func (w *Window[K]) Add(k K) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[k]; ok {
		return false
	}
	if w.full {
		delete(w.seen, w.ring[w.next])
	}
	w.ring[w.next] = k
	w.seen[k] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
	w.full = w.full || w.next == 0
	return true
}

// Len returns how many values the window holds; never more than its size.
func (w *Window[K]) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}
