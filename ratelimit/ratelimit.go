// Package ratelimit bounds how often each of many keys (a node, a source
// address) may act: one token bucket per key, in a table of bounded size so
// that callers who invent keys cannot grow it without limit.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets, one per key. It is safe for concurrent
// use.
type Keyed[K comparable] struct {
	every   time.Duration
	burst   int
	maxKeys int

	mu sync.Mutex // mu guards buckets
	// buckets holds the keys seen recently; at most maxKeys.
	buckets map[K]*rate.Limiter
}

// New returns a limiter that lets each key act burst times at once and
// then once per every. It tracks at most maxKeys keys: when the table is
// full, keys whose bucket has refilled are forgotten first, then arbitrary
// ones (a forgotten key starts again with a full bucket).
func New[K comparable](every time.Duration, burst, maxKeys int) *Keyed[K] {
	return &Keyed[K]{every: every, burst: max(burst, 1), maxKeys: max(maxKeys, 1), buckets: map[K]*rate.Limiter{}}
}

// Allow takes one token of key's bucket at now. When the bucket is empty
// it takes nothing and returns false and how long until a token is there.
func (k *Keyed[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	lim, found := k.buckets[key]
	if !found {
		k.makeRoomLocked(now)
		lim = rate.NewLimiter(rate.Every(k.every), k.burst)
		k.buckets[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of keys tracked.
func (k *Keyed[K]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// makeRoomLocked forgets keys until one more fits.
func (k *Keyed[K]) makeRoomLocked(now time.Time) {
	if len(k.buckets) < k.maxKeys {
		return
	}
	for key, lim := range k.buckets {
		if lim.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
	for key := range k.buckets {
		if len(k.buckets) < k.maxKeys {
			return
		}
		delete(k.buckets, key)
	}
}
