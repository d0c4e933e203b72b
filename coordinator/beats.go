package coordinator

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/wire"
)

// Router liveness (issue 14). A subnet router that stops without closing
// its map stream (a stopped process, a cut network) leaves the stream
// looking open: the kernel still acknowledges what the coordinator writes,
// or buffers it, for far longer than the 5 s in which its routes must move.
// So a router asks for beats on its stream (wire.MapBeatParam) and posts
// wire.PathBeat at that interval; the stream ends after wire.MissedBeats
// intervals without one, which takes the router offline and moves its
// routes (settleOnline). Only streams that ask pay for it: other nodes'
// streams have no beat timer.
//
// With several coordinators on one database behind a load balancer, a
// beat may land on a coordinator that does not hold the router's stream.
// That one forwards it to the others (store.Changes.ForwardBeat: one
// NOTIFY, no row) and the holder's follower applies it (applyChange).
// Only a beat with no stream here is forwarded, so one coordinator, or a
// sticky balancer, pays nothing; and at most one per machine per minBeat
// (the shortest interval a stream may ask for), so a node posting beats
// in a loop cannot make the coordinators NOTIFY in one.

// Bounds on the beat interval a node may ask for.
const (
	minBeat = 250 * time.Millisecond
	maxBeat = 30 * time.Second
)

// beatOf is the beat interval a map request asks for (wire.MapBeatParam,
// in milliseconds, within minBeat and maxBeat); 0 when it asks for none.
func beatOf(r *http.Request) time.Duration {
	ms, err := strconv.ParseUint(r.URL.Query().Get(wire.MapBeatParam), 10, 32)
	if err != nil || ms == 0 {
		return 0
	}
	return min(max(time.Duration(ms)*time.Millisecond, minBeat), maxBeat)
}

// beatBoard holds the last beat of each machine with an open map stream
// that asked for beats, keyed by machine key: a beat costs a session
// lookup and an atomic store, no store read. A beat from any other
// machine changes nothing.
type beatBoard struct {
	// mu guards entries.
	mu      sync.Mutex
	entries map[wire.MachinePublic]*beatEntry
}

// beatEntry is one machine's last beat and its streams waiting for beats.
type beatEntry struct {
	// at is the last beat, in Unix nanoseconds.
	at atomic.Int64
	// streams counts the machine's streams that asked for beats (guarded
	// by beatBoard.mu).
	streams int
}

func newBeatBoard() *beatBoard {
	return &beatBoard{entries: map[wire.MachinePublic]*beatEntry{}}
}

// watch registers a stream of machine k that asked for beats, counting
// now as a beat, and returns the entry the stream reads.
func (b *beatBoard) watch(k wire.MachinePublic, now time.Time) *beatEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[k]
	if e == nil {
		e = &beatEntry{}
		b.entries[k] = e
	}
	e.streams++
	e.at.Store(now.UnixNano())
	return e
}

// unwatch drops a stream watch registered.
func (b *beatBoard) unwatch(k wire.MachinePublic) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[k]; e != nil {
		if e.streams--; e.streams <= 0 {
			delete(b.entries, k)
		}
	}
}

// beat records a beat of machine k at now; it reports whether k has a
// stream here that asked for beats.
func (b *beatBoard) beat(k wire.MachinePublic, now time.Time) bool {
	b.mu.Lock()
	e := b.entries[k]
	b.mu.Unlock()
	if e != nil {
		e.at.Store(now.UnixNano())
	}
	return e != nil
}

// silentFor is how long ago the last beat of e was, at now.
func (e *beatEntry) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, e.at.Load()))
}

// handleBeat records the caller's beat (wire.PathBeat).
func (s *control) handleBeat(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now()
	if !s.beats.beat(ss.machine, now) && s.replicas != nil {
		if ok, _ := s.forwards.Allow(ss.machine, now); ok {
			s.metrics.beatsForwarded.Inc()
			if err := s.replicas.ForwardBeat(r.Context(), ss.machine.String()); err != nil {
				s.log.Warn("forward a beat to the other coordinators", "machine", ss.machine.String(), "err", err)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// applyBeat records a beat another coordinator forwarded (store.ChangeBeat)
// for a stream here; it never forwards it again.
func (s *control) applyBeat(machine string) error {
	var k wire.MachinePublic
	if err := k.UnmarshalText([]byte(machine)); err != nil {
		return fmt.Errorf("forwarded beat of %q: %w", machine, err)
	}
	s.beats.beat(k, time.Now())
	return nil
}
