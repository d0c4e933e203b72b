package sim

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/wire"
)

// probe times one change's fan-out: from start until every stream in want
// received a message that match accepts.
type probe struct {
	start time.Time
	match func(m *wire.MapResponse) bool

	// mu guards the following.
	mu sync.Mutex
	// want is the set of streams that must hear; nil until known (a join's
	// streams are known once its registration answered).
	want map[wire.NodeID]bool
	// got is when each stream first heard.
	got map[wire.NodeID]time.Duration
	// left counts the streams of want that have not heard yet (once want
	// is known): a change that reaches 10,000 streams checks one count
	// per message, not every stream (which made the sim's own cost grow
	// with the square of the fleet and held every stream's observation
	// behind mu).
	left int
	done chan struct{}
}

func newProbe(match func(m *wire.MapResponse) bool) *probe {
	return &probe{start: time.Now(), match: match, got: map[wire.NodeID]time.Duration{}, done: make(chan struct{})}
}

// observe records node id's first matching message.
func (p *probe) observe(id wire.NodeID, m *wire.MapResponse, at time.Time) {
	if !p.match(m) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.got[id]; !seen {
		p.got[id] = at.Sub(p.start)
		if _, wanted := p.want[id]; wanted {
			p.left--
		}
		p.checkLocked()
	}
}

// expect sets the streams that must hear.
func (p *probe) expect(want map[wire.NodeID]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want, p.left = want, 0
	for id := range want {
		if _, ok := p.got[id]; !ok {
			p.left++
		}
	}
	p.checkLocked()
}

func (p *probe) checkLocked() {
	if p.want == nil || p.left > 0 || isClosed(p.done) {
		return
	}
	close(p.done)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// wait waits for every stream to hear, or d; it returns the delivery
// times of the wanted streams and how many never heard.
func (p *probe) wait(d time.Duration) (times []time.Duration, missing int) {
	select {
	case <-p.done:
	case <-time.After(d):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.want {
		if t, ok := p.got[id]; ok {
			times = append(times, t)
		} else {
			missing++
		}
	}
	return times, missing
}

// probeSlot is the probe running now, if any; every stream's observer
// reads it.
type probeSlot struct{ cur atomic.Pointer[probe] }

func (s *probeSlot) observe(n *simNode, m *wire.MapResponse, at time.Time) {
	if p := s.cur.Load(); p != nil {
		p.observe(n.self.ID, m, at)
	}
}

// Dist summarizes durations.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Dist{N: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}
