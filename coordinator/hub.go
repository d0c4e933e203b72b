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
	// wakesSkipped counts the changes recorded in a stream without waking
	// it (subscriber.armed): ward_map_wakes_skipped_total.
	wakesSkipped atomic.Uint64
	// onChange, when set (before serving), hears of every change notify
	// signals, after the streams were woken: the ids, or nil for all.
	onChange func(ids []store.NodeID)

	mu sync.Mutex // mu guards the following
	// subs holds the open streams of each node (at most
	// maxStreamsPerNode; a slice: every change ranges over the streams of
	// each node it touches, and starting a map's iteration cost more than
	// the rest of the wake, 4.5 s of a 20,000-node registration's 139 s).
	subs map[store.NodeID][]*subscriber
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

	mu   sync.Mutex // mu guards pend and armed
	pend pending
	// armed: the stream's loop will take what is pending without being
	// woken (its pace timer or its turn of the map budget is armed, see
	// arm), so a change that leaves only additions pending need not wake
	// it (add). take clears it.
	//
	// Reason: at 1,000 gateways every sensor's join woke 1,000 gateway
	// streams, nearly all of them paced after their last (large) message,
	// whose loop woke only to find it had nothing to do before the pace
	// ended: some 20 million wakes over a 20,000-node registration, each a
	// channel send, a select over the stream's channels (which locks every
	// one of them), a park and a ready, a fifth of the coordinator's CPU.
	armed bool
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
	// peers: these nodes may have been changed in or removed from the
	// node's map, with what the removals' check needs to know of each
	// (see removable).
	peers map[store.NodeID]peerPend
	// joins: these nodes joined or changed their presence, which can only
	// add them to the map or change their record; in any order, possibly
	// repeated, possibly in peers too (compacted at joinsCompact). A list,
	// not peers: each sensor's join and presence are recorded in each of
	// 1,000 gateways' streams, and the map's lookup and insert were most
	// of what recording a change cost (6.5 s of 97 in a 20,000-node
	// registration's profile).
	joins []store.NodeID
	// joinsCompact is the length of joins at which it is next sorted
	// and compacted (0: joinsCompactMin).
	joinsCompact int
	// check lists the peers pendRemove in peers, each once: the next
	// removals' check's candidates (a list, not a walk over peers: a
	// gateway waiting while sensors joined held hundreds of pending
	// peers, walked on every check).
	check []store.NodeID
}

// peerPend is what a pending peer may be for the removals' check.
type peerPend uint8

// joinsCompactMin is the shortest pending.joins compacted.
const joinsCompactMin = 64

const (
	// pendRemove: a change that may remove it, not yet checked.
	pendRemove peerPend = iota + 1
	// pendChecked: checked by a removals' check (removable) and found a
	// peer; a later change that may remove it makes it pendRemove again.
	pendChecked
)

// take returns what is pending and clears it, and disarms the stream
// (see armed): a change after this wakes it.
func (s *subscriber) take() pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pend
	s.pend = pending{}
	s.armed = false
	return p
}

// arm records that the stream's loop will take what is pending without
// a wake (its pace timer or budget turn is armed). The loop must then
// take it (sendUpdate) before it disarms, which take does.
func (s *subscriber) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = true
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
	return s.pend.ids(), false
}

// ids returns the pending peers (those of peers and of joins), each once.
func (p *pending) ids() []store.NodeID {
	p.compactJoins()
	out := make([]store.NodeID, 0, len(p.peers)+len(p.joins))
	out = slices.AppendSeq(out, maps.Keys(p.peers))
	for _, id := range p.joins {
		if _, ok := p.peers[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// compactJoins sorts joins and drops its repeats.
func (p *pending) compactJoins() {
	slices.Sort(p.joins)
	p.joins = slices.Compact(p.joins)
	p.joinsCompact = max(2*len(p.joins), joinsCompactMin)
}

// onlyAdds reports whether everything pending only adds to the node's
// map and filter (joins, presence): then a waiting stream has no
// removal to send and no narrowing to check, and need not ask a worker.
func (s *subscriber) onlyAdds() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pend.onlyAdds()
}

func (p *pending) onlyAdds() bool { return !p.all && !p.narrow && len(p.check) == 0 }

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
	out := s.pend.check
	for _, id := range out {
		s.pend.peers[id] = pendChecked
	}
	s.pend.check = nil
	return out, false
}

// add records a change: all, or peer (0: none) with or without the
// filter; joined: the change cannot remove peer or narrow a filter (a
// join, which only adds its addresses to filters; a presence). It
// reports whether the stream must be woken: not when its loop is armed
// (see armed) and what is pending still only adds.
func (s *subscriber) add(all bool, peer store.NodeID, filter, joined bool) (wake bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case all || s.pend.all:
		s.pend = pending{all: true}
		return true
	case peer != 0 && joined:
		s.pend.joins = append(s.pend.joins, peer)
		if len(s.pend.joins) >= max(s.pend.joinsCompact, joinsCompactMin) {
			s.pend.compactJoins()
		}
	case peer != 0:
		if s.pend.peers == nil {
			s.pend.peers = map[store.NodeID]peerPend{}
		}
		if s.pend.peers[peer] != pendRemove {
			s.pend.peers[peer] = pendRemove
			s.pend.check = append(s.pend.check, peer)
		}
	}
	s.pend.filter = s.pend.filter || filter
	s.pend.narrow = s.pend.narrow || filter && !joined
	return !s.armed || !s.pend.onlyAdds()
}

func newHub(now time.Time) *hub {
	h := &hub{subs: map[store.NodeID][]*subscriber{}, last: map[store.NodeID]*sentState{}}
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
	s = &subscriber{wake: make(chan struct{}, 1)}
	h.subs[id] = append(h.subs[id], s)
	return s, true
}

// unsubscribe removes s and reports whether the node has no stream left.
func (h *hub) unsubscribe(id store.NodeID, s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := slices.DeleteFunc(h.subs[id], func(o *subscriber) bool { return o == s })
	h.subs[id] = subs
	if len(subs) == 0 {
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

// notifyPresence is notifyPeer for a node that came online or went
// offline: its record changed for its peers (Online, LastSeen), their
// filters did not, and no node's peers or filter depend on presence
// (offline peers stay peers; a router's presence that moves routes
// makes its route viewers recompute their whole map, notifyRouteViewers),
// so it cannot remove it from a map or take access away: what goes
// offline only goes later, with the pace. Paced and waiting streams
// therefore take it as a join (subscriber.onlyAdds): no narrowing
// check, no removals' check, and no wake at all when the stream is
// armed. In a registration every node that opens its stream comes
// online, and each gateway paced between its messages asked a worker
// twice per sensor online for checks that could find nothing (8.3
// million of them over a 20,000-node registration with 1,000 gateways).
func (h *hub) notifyPresence(subject store.NodeID, ids []store.NodeID) {
	h.notifyChange(subject, ids, false, true)
}

// notifyChange records that subject changed for the streams of ids;
// filters: their filters may have changed with it; joined: the change
// cannot remove subject from a map or narrow a filter (a join, a
// presence).
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
	skipped := 0
	for _, id := range ids {
		for _, s := range h.subs[id] {
			wake := s.add(all(s, id), peer, filter, joined)
			s.since.CompareAndSwap(0, now)
			if !wake {
				skipped++
				continue
			}
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	if skipped > 0 {
		h.wakesSkipped.Add(uint64(skipped))
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

// compactHeld makes every node's held peer set (the states in last: the
// live streams' own, and the ended ones kept to resume) one base with
// nothing beside it, shared by the nodes that hold the same entries
// (sentPeers.compactBy, by content key), and returns how many it changed.
// It runs once a burst is over, just ahead of the memory give-back
// (Server.CompactHeld).
//
// Reason: after a registration, every sensor of a 50,000-node fleet
// holds the same 1,000 gateways, each as a base (its lineage's, or one
// it merged) with the joins since in maps beside it: 206 MB of the
// settled live heap in the maps and merged bases, where one slice per
// view class holds the same entries. A whole map (a policy change)
// makes them share again; a quiet fleet had none.
func (h *hub) compactHeld() (compacted int) {
	h.mu.Lock()
	states := make([]*sentState, 0, len(h.last))
	for _, st := range h.last {
		states = append(states, st)
	}
	h.mu.Unlock()
	canon := map[heldKey][]sentEntry{}
	for _, st := range states {
		st.mu.Lock()
		if st.peers.compactBy(canon) {
			compacted++
		}
		st.mu.Unlock()
	}
	return compacted
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
