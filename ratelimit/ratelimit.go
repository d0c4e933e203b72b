// Package ratelimit bounds how often each of many keys (a node, a source
// address) may act: one token bucket per key, in a table of bounded size so
// that callers who invent keys cannot grow it without limit.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key. It is safe for concurrent
// use; every call is O(1).
type Keyed[K comparable] struct {
	every   time.Duration
	burst   int
	maxKeys int

	mu sync.Mutex // mu guards the following
	// buckets maps each tracked key to its element in lru; at most maxKeys.
	buckets map[K]*list.Element
	// lru orders the tracked keys, most recently used first; its values
	// are *bucket.
	lru *list.List
}

// bucket is one key's token bucket.
type bucket[K comparable] struct {
	key K
	lim *rate.Limiter
}

// New returns a limiter that lets each key act burst times at once and
// then once per every. It tracks at most maxKeys keys: when the table is
// full, the least recently used key is forgotten (it starts again with a
// full bucket), which is the key most likely to have refilled anyway.
func New[K comparable](every time.Duration, burst, maxKeys int) *Keyed[K] {
	return &Keyed[K]{every: every, burst: max(burst, 1), maxKeys: max(maxKeys, 1),
		buckets: map[K]*list.Element{}, lru: list.New()}
}

// Allow takes one token of key's bucket at now. When the bucket is empty
// it takes nothing and returns false and how long until a token is there.
func (k *Keyed[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	lim := k.bucketLocked(key)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucketLocked returns key's bucket, made (and the least recently used key
// forgotten when full) if needed, and marks it used.
func (k *Keyed[K]) bucketLocked(key K) *rate.Limiter {
	if e, ok := k.buckets[key]; ok {
		k.lru.MoveToFront(e)
		return e.Value.(*bucket[K]).lim
	}
	if k.lru.Len() >= k.maxKeys {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.buckets, old.Value.(*bucket[K]).key)
	}
	b := &bucket[K]{key: key, lim: rate.NewLimiter(rate.Every(k.every), k.burst)}
	k.buckets[key] = k.lru.PushFront(b)
	return b.lim
}

// Len is the number of keys tracked.
func (k *Keyed[K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}
