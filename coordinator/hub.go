package coordinator

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// hub tracks open map streams and tells each what changed for it: a set of
// touched peers, or "everything" (a policy change, a node's own change).
// It also keeps each node's last sent map state so a reconnecting node
// resumes with a delta.
type hub struct {
	version atomic.Uint64 // last map version handed out
	// onChange, when set (before serving), hears of every change notify
	// signals, after the streams were woken: the ids, or nil for all.
	onChange func(ids []store.NodeID)

	mu sync.Mutex // mu guards the following
	// subs holds the open streams of each node.
	subs map[store.NodeID]map[*subscriber]struct{}
	// last holds the map state each node's stream last sent (a live
	// stream's own state, which it changes under the state's lock).
	last map[store.NodeID]*sentState
}

// sentState is what a stream has sent its node, to diff the next map
// against: one record version and grants id per peer, not the records.
type sentState struct {
	mu sync.Mutex // mu guards the following
	// version is the last message's version; 0 before the first.
	version uint64
	// self is what the node holds of its own record: a sum of its JSON
	// (selfSum) and the two marks a removal message may send at once.
	// Not the record: about 500 bytes a stream, kept only to be compared.
	self              uint64
	revoked, disabled bool
	peers             sentPeers
	// filter is the sent filter's sum (srcCache.filterSum).
	filter uint64
	// rules is the sent filter (the netmap's cached rules, shared; their
	// sources are the compiler's shared lists): for
	// wire.MapResponse.FilterSrcFrom, and to tell a narrowing change
	// (narrows).
	rules []filter.Rule
	// relays is the relay list the node holds (a relayDir list, compared
	// by pointer).
	relays *[]wire.Relay
}

// sentPeer is one peer as last sent: its record's version, grants and
// the viewer's routes through it (core.routes ids).
type sentPeer struct {
	ver    uint64
	grants uint32
	routes uint32
}

// clone copies s for a resuming stream.
func (s *sentState) clone() *sentState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &sentState{version: s.version, self: s.self, revoked: s.revoked, disabled: s.disabled, peers: s.peers.clone(), filter: s.filter, rules: s.rules, relays: s.relays}
}

// setSelf records self, whose selfSum is sum, as sent.
func (s *sentState) setSelf(sum uint64, self *wire.Node) {
	s.self, s.revoked, s.disabled = sum, self.KeyRevoked, self.OwnerDisabled
}

// subscriber is one open map stream. wake has room for one pending
// wake-up; pend says what the stream must look at when it wakes.
type subscriber struct {
	wake chan struct{}
	// since is when the oldest pending change was signalled (UnixNano), for
	// the map latency metric; 0 when none is pending.
	since atomic.Int64

	mu   sync.Mutex // mu guards pend
	pend pending
}

// pending is what changed for a stream since it last looked.
type pending struct {
	// all: recompute the whole map (and diff it against what was sent).
	all bool
	// filter: the node's filter may have changed.
	filter bool
	// narrow: it may have changed by more than a join (which only adds
	// sources), so it may have lost rules or gained a deny: a paced
	// stream checks it at once (streamState.narrowsFilter).
	narrow bool
	// peers: these nodes may have been added to, changed in or removed
	// from the node's map, with what the removals' check needs to know
	// of each (see removable).
	peers map[store.NodeID]peerPend
	// mayRemove counts the peers pendRemove in peers.
	mayRemove int
}

// peerPend is what a pending peer may be for the removals' check.
type peerPend uint8

const (
	// pendJoin: every change recorded for the peer was its join, which
	// cannot remove it.
	pendJoin peerPend = iota
	// pendRemove: a change that may remove it, not yet checked.
	pendRemove
	// pendChecked: checked by a removals' check (removable) and found a
	// peer; a later change that may remove it makes it pendRemove again.
	pendChecked
)

// take returns what is pending and clears it.
func (s *subscriber) take() pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pend
	s.pend = pending{}
	return p
}

// mayNarrow reports whether a pending change may narrow the node's
// filter: a whole map, or a filter change other than a join.
func (s *subscriber) mayNarrow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pend.all || s.pend.narrow
}

// peek returns what is pending without clearing it: the peers (a copy)
// and whether the whole map is.
func (s *subscriber) peek() ([]store.NodeID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pend.all {
		return nil, true
	}
	return slices.Collect(maps.Keys(s.pend.peers)), false
}

// onlyAdds reports whether everything pending only adds to the node's
// map and filter (joins): then a waiting stream has no removal to send
// and no narrowing to check, and need not ask a worker.
func (s *subscriber) onlyAdds() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.pend.all && !s.pend.narrow && s.pend.mayRemove == 0
}

// removable is peek for the removals (sendRemovals): the pending peers
// that may have left the node's map since the last check, leaving out
// those that only joined and those checked since their last change
// (which it marks checked; the caller checks them all).
//
// Reason: a stream waiting (paced, or for its turn of the map budget)
// checks what is pending for removals on every wake. A gateway waiting
// while sensors join and come online gets a wake per join and per
// sensor online, and checking all that was pending on each cost the
// square of the changes during the wait (a third of the coordinator's
// CPU in a 50,000-node registration).
func (s *subscriber) removable() ([]store.NodeID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pend.all {
		return nil, true
	}
	var out []store.NodeID
	if s.pend.mayRemove == 0 {
		return nil, false
	}
	for id, p := range s.pend.peers {
		if p == pendRemove {
			out = append(out, id)
			s.pend.peers[id] = pendChecked
		}
	}
	s.pend.mayRemove = 0
	return out, false
}

// add records a change: all, or peer (0: none) with or without the
// filter, which a change other than a join (joined) may narrow.
func (s *subscriber) add(all bool, peer store.NodeID, filter, joined bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case all || s.pend.all:
		s.pend = pending{all: true}
		return
	case peer != 0:
		if s.pend.peers == nil {
			s.pend.peers = map[store.NodeID]peerPend{}
		}
		was, held := s.pend.peers[peer]
		switch {
		case !joined && was != pendRemove:
			s.pend.peers[peer] = pendRemove
			s.pend.mayRemove++
		case !held:
			s.pend.peers[peer] = pendJoin
		}
	}
	s.pend.filter = s.pend.filter || filter
	s.pend.narrow = s.pend.narrow || filter && !joined
}

func newHub(now time.Time) *hub {
	h := &hub{subs: map[store.NodeID]map[*subscriber]struct{}{}, last: map[store.NodeID]*sentState{}}
	// Versions start at the clock so they keep increasing across restarts.
	h.version.Store(uint64(now.UnixMicro()))
	return h
}

func (h *hub) nextVersion() uint64 { return h.version.Add(1) }

// maxStreamsPerNode bounds the map streams one node may hold open (a
// reconnect may briefly overlap the stream it replaces).
const maxStreamsPerNode = 4

// subscribe opens a stream for node id; ok is false when the node already
// has maxStreamsPerNode open.
func (h *hub) subscribe(id store.NodeID) (s *subscriber, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs[id]) >= maxStreamsPerNode {
		return nil, false
	}
	if h.subs[id] == nil {
		h.subs[id] = map[*subscriber]struct{}{}
	}
	s = &subscriber{wake: make(chan struct{}, 1)}
	h.subs[id][s] = struct{}{}
	return s, true
}

// unsubscribe removes s and reports whether the node has no stream left.
func (h *hub) unsubscribe(id store.NodeID, s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[id], s)
	if len(h.subs[id]) == 0 {
		delete(h.subs, id)
		return true
	}
	return false
}

// notify makes the streams of ids recompute their whole map and tells
// onChange.
func (h *hub) notify(ids []store.NodeID) {
	h.signal(ids, func(*subscriber, store.NodeID) bool { return true }, 0, false, false)
	if h.onChange != nil {
		h.onChange(ids)
	}
}

// notifyPeer tells the streams of ids that node subject changed for
// them (joined, left, changed its record) and, when filters, that their
// own filters may have changed with it; subject's own streams, if among
// ids, recompute their whole map. onChange hears of ids.
func (h *hub) notifyPeer(subject store.NodeID, ids []store.NodeID, filters bool) {
	h.notifyChange(subject, ids, filters, false)
}

// notifyJoined is notifyPeer for a node that joined (was not in the
// netmap): the filters it changes only gain its addresses, so paced
// streams wait for their pace to end (see pending.narrow).
func (h *hub) notifyJoined(subject store.NodeID, ids []store.NodeID) {
	h.notifyChange(subject, ids, true, true)
}

func (h *hub) notifyChange(subject store.NodeID, ids []store.NodeID, filters, joined bool) {
	h.signal(ids, func(_ *subscriber, id store.NodeID) bool { return id == subject }, subject, filters, joined)
	if h.onChange != nil {
		h.onChange(ids)
	}
}

// signal records the change in the streams of ids and wakes them.
func (h *hub) signal(ids []store.NodeID, all func(*subscriber, store.NodeID) bool, peer store.NodeID, filter, joined bool) {
	now := time.Now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		for s := range h.subs[id] {
			s.add(all(s, id), peer, filter, joined)
			s.since.CompareAndSwap(0, now)
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// notifyAll makes every stream recompute its whole map. Only a change
// that may touch every node calls it: a policy, the users' groups, the
// relay list.
func (h *hub) notifyAll() {
	h.mu.Lock()
	ids := make([]store.NodeID, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	h.signal(ids, func(*subscriber, store.NodeID) bool { return true }, 0, false, false)
	if h.onChange != nil {
		h.onChange(nil)
	}
}

// resumable returns a copy of node id's last sent state when its version
// is since (0 never matches).
func (h *hub) resumable(id store.NodeID, since uint64) *sentState {
	h.mu.Lock()
	last := h.last[id]
	h.mu.Unlock()
	if last == nil || since == 0 {
		return nil
	}
	c := last.clone()
	if c.version != since {
		return nil
	}
	return c
}

// recordSent makes st node id's state to resume from.
func (h *hub) recordSent(id store.NodeID, st *sentState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[id] = st
}

func (h *hub) forget(id store.NodeID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.last, id)
}

// streams returns how many streams node id has open.
func (h *hub) streams(id store.NodeID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id])
}

// connected reports whether node id has an open stream.
func (h *hub) connected(id store.NodeID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id]) > 0
}
