package relayd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// Bounds of the authority.
const (
	// maxPairs bounds the cached answers; past it the cache starts over.
	maxPairs = 1 << 16
	// maxPending bounds the questions waiting for an answer; past it a
	// question is refused (its frame or admission too).
	maxPending = 4096
	// readmitParallel bounds the questions a new feed's readmission has
	// in flight.
	readmitParallel = 64
	// askTries is how often a question is asked again when its answer
	// came from an older generation than the relay's.
	askTries = 3
)

// errFeedDown refuses a question while the relay holds no feed.
var errFeedDown = errors.New("relayd: no authorization feed")

// authority is the standalone relay's relay.Authorizer and
// relay.Admitter: it answers from a cache of the coordinator's answers
// while the coordinator spoke within the grace, asks it over an open feed
// otherwise, and refuses what it can answer neither way.
type authority struct {
	ver        *relay.Verifier
	srv        *relay.Server // set once, before serving
	grace      time.Duration
	askTimeout time.Duration
	nextID     atomic.Uint64
	// heard is when the feed last spoke (UnixNano).
	heard atomic.Int64

	mu sync.RWMutex // mu guards the following
	// feed is the open feed; nil when down.
	feed *websocket.Conn
	// gen is the coordinator's generation the cache holds answers of.
	gen   uint64
	cache map[[2]wire.WGPublic]bool
	// pending holds the channel of each question asked and not answered.
	pending map[uint64]chan wire.RelayFeedMessage
	// admitted holds the keys the coordinator admitted, with their
	// nodes, to admit again over a new feed.
	admitted map[wire.WGPublic]wire.NodeID
}

func newAuthority(grace, askTimeout time.Duration) *authority {
	return &authority{ver: relay.NewVerifier(nil, 0), grace: grace, askTimeout: askTimeout,
		cache: map[[2]wire.WGPublic]bool{}, pending: map[uint64]chan wire.RelayFeedMessage{},
		admitted: map[wire.WGPublic]wire.NodeID{}}
}

// freshLocked reports whether the coordinator spoke within the grace:
// cached answers hold only then.
func (a *authority) freshLocked(now time.Time) bool {
	return now.Sub(time.Unix(0, a.heard.Load())) < a.grace
}

// readyLocked reports whether the feed is open and fresh: only then is a
// question asked, and so a key admitted or an unknown pair answered.
func (a *authority) readyLocked(now time.Time) bool {
	return a.feed != nil && a.freshLocked(now)
}

// MayRelay implements relay.Authorizer: from may send to to when the
// coordinator said so at the current generation, and spoke within the
// grace (a feed that just dropped keeps its answers that long, no more).
func (a *authority) MayRelay(from, to wire.WGPublic) bool {
	pair := [2]wire.WGPublic{from, to}
	now := time.Now()
	a.mu.RLock()
	ok, known := a.cache[pair]
	fresh, ready := a.freshLocked(now), a.readyLocked(now)
	var q wire.RelayFeedQuestion
	if !known {
		q = wire.RelayFeedQuestion{Key: from, Node: a.admitted[from], To: to, ToNode: a.admitted[to]}
	}
	a.mu.RUnlock()
	switch {
	case known && fresh:
		return ok
	case !ready:
		return false
	}
	for range askTries {
		ans, err := a.ask(q)
		if err != nil {
			return false
		}
		if a.settle(pair, ans) {
			return ans.OK
		}
	}
	return false
}

// settle takes ans to pair's question into the cache and reports whether
// it holds at the current generation (a newer one voids the cache).
func (a *authority) settle(pair [2]wire.WGPublic, ans wire.RelayFeedMessage) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.advanceLocked(ans.Gen)
	if ans.Gen != a.gen {
		return false
	}
	if len(a.cache) >= maxPairs {
		clear(a.cache)
	}
	a.cache[pair] = ans.OK
	return true
}

// advanceLocked moves to generation gen, voiding the cache, if it is
// newer.
func (a *authority) advanceLocked(gen uint64) {
	if gen > a.gen {
		a.gen = gen
		clear(a.cache)
	}
}

// MayAdmit implements relay.Admitter: the coordinator must say c's key is
// its node's live key, over a fresh feed.
func (a *authority) MayAdmit(c relay.Claims) bool {
	a.mu.RLock()
	ready := a.readyLocked(time.Now())
	a.mu.RUnlock()
	if !ready {
		return false
	}
	ans, err := a.ask(wire.RelayFeedQuestion{Admit: true, Key: c.Key, Node: c.Node})
	if err != nil || !ans.OK {
		return false
	}
	a.mu.Lock()
	a.admitted[c.Key] = c.Node
	a.mu.Unlock()
	return true
}

// ask sends q over the feed and waits for its answer.
func (a *authority) ask(q wire.RelayFeedQuestion) (wire.RelayFeedMessage, error) {
	q.ID = a.nextID.Add(1)
	ch := make(chan wire.RelayFeedMessage, 1)
	a.mu.Lock()
	ws := a.feed
	if ws == nil || len(a.pending) >= maxPending {
		a.mu.Unlock()
		return wire.RelayFeedMessage{}, errFeedDown
	}
	a.pending[q.ID] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, q.ID)
		a.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), a.askTimeout)
	defer cancel()
	b, err := json.Marshal(q)
	if err == nil {
		err = ws.Write(ctx, websocket.MessageText, b)
	}
	if err != nil {
		return wire.RelayFeedMessage{}, fmt.Errorf("ask coordinator: %w", err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return wire.RelayFeedMessage{}, errFeedDown
		}
		return m, nil
	case <-ctx.Done():
		return wire.RelayFeedMessage{}, fmt.Errorf("ask coordinator: %w", ctx.Err())
	}
}

// up makes ws the feed, at the hello's key and generation.
func (a *authority) up(ws *websocket.Conn, h wire.RelayFeedHello) {
	a.ver.SetKey(h.TokenKey)
	a.heard.Store(time.Now().UnixNano())
	a.mu.Lock()
	a.feed, a.gen = ws, h.Gen
	clear(a.cache)
	a.mu.Unlock()
}

// down forgets the feed: every question waiting fails, and cached
// answers hold until the grace since the coordinator last spoke is over.
func (a *authority) down() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.feed = nil
	for id, ch := range a.pending {
		close(ch)
		delete(a.pending, id)
	}
}

// heed applies a message of the coordinator: an answer goes to its
// question, a generation voids older answers, a cut closes keys.
func (a *authority) heed(m wire.RelayFeedMessage) {
	a.heard.Store(time.Now().UnixNano())
	a.mu.Lock()
	if m.Answer != 0 {
		if ch, ok := a.pending[m.Answer]; ok {
			ch <- m
			delete(a.pending, m.Answer)
		}
	} else {
		a.advanceLocked(m.Gen)
	}
	for _, k := range m.Cut {
		delete(a.admitted, k)
	}
	a.mu.Unlock()
	for _, k := range m.Cut {
		a.srv.Cut(k)
	}
}

// readmit asks again about every key admitted over an earlier feed that
// is still connected, and cuts those the coordinator no longer admits (a
// revocation while the feed was down, or a coordinator that restarted and
// watches nothing yet).
func (a *authority) readmit() {
	a.mu.Lock()
	keys := make(map[wire.WGPublic]wire.NodeID, len(a.admitted))
	for k, n := range a.admitted {
		if a.srv.Connected(k) {
			keys[k] = n
		} else {
			delete(a.admitted, k)
		}
	}
	a.mu.Unlock()
	sem := make(chan struct{}, readmitParallel)
	var wg sync.WaitGroup
	for k, n := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			a.readmitKey(k, n)
		}()
	}
	wg.Wait()
}

// readmitKey asks again about key k, of node n, and cuts it when the
// coordinator says no; an unanswered question leaves it to the next feed.
func (a *authority) readmitKey(k wire.WGPublic, n wire.NodeID) {
	ans, err := a.ask(wire.RelayFeedQuestion{Admit: true, Key: k, Node: n})
	if err != nil || ans.OK {
		return
	}
	a.mu.Lock()
	delete(a.admitted, k)
	a.mu.Unlock()
	a.srv.Cut(k)
}
