package coordinator

import (
	"cmp"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// hub tracks open map streams and wakes the streams of changed nodes. It
// also remembers the last view sent to each node so a reconnecting node
// resumes with a delta.
type hub struct {
	version atomic.Uint64 // last map version handed out
	// onChange, when set (before serving), hears of every change notify
	// signals, after the streams were woken: the ids, or nil for all.
	onChange func(ids []store.NodeID)

	mu sync.Mutex // mu guards the following
	// subs holds the open streams of each node.
	subs map[store.NodeID]map[*subscriber]struct{}
	// last holds the last view sent to each node and its version.
	last map[store.NodeID]sentView
}

type sentView struct {
	version uint64
	view    view
	// relays is the relay list the node holds after it (see relayDir).
	relays *[]wire.Relay
}

// subscriber is one open map stream. wake has room for one pending wake-up.
type subscriber struct {
	wake chan struct{}
	// since is when the oldest pending change was signalled (UnixNano), for
	// the map latency metric; 0 when none is pending.
	since atomic.Int64
}

func newHub(now time.Time) *hub {
	h := &hub{subs: map[store.NodeID]map[*subscriber]struct{}{}, last: map[store.NodeID]sentView{}}
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

// notify wakes the streams of the given nodes and tells onChange.
func (h *hub) notify(ids []store.NodeID) {
	h.wake(ids)
	if h.onChange != nil {
		h.onChange(ids)
	}
}

// wake wakes the streams of the given nodes.
func (h *hub) wake(ids []store.NodeID) {
	now := time.Now().UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		for s := range h.subs[id] {
			s.since.CompareAndSwap(0, now)
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// notifyAll wakes every stream.
func (h *hub) notifyAll() {
	h.mu.Lock()
	ids := make([]store.NodeID, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	h.wake(ids)
	if h.onChange != nil {
		h.onChange(nil)
	}
}

func (h *hub) lastSent(id store.NodeID) (sentView, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.last[id]
	return v, ok
}

func (h *hub) recordSent(id store.NodeID, v sentView) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[id] = v
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

// fullMap is the first message of a stream.
func fullMap(v view, version uint64) wire.MapResponse {
	self := v.self
	peers := make([]wire.Node, 0, len(v.peers))
	for _, p := range v.peers {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b wire.Node) int { return cmp.Compare(a.ID, b.ID) })
	return wire.MapResponse{Version: version, Full: true, Self: &self, Peers: peers, Filter: v.filter, FilterChanged: true}
}

// delta returns what changed from prev to cur; ok is false when nothing did.
func delta(prev, cur view) (wire.MapResponse, bool) {
	var m wire.MapResponse
	changed := false
	if !reflect.DeepEqual(prev.self, cur.self) {
		self := cur.self
		m.Self, changed = &self, true
	}
	for id, p := range cur.peers {
		if old, ok := prev.peers[id]; !ok || !reflect.DeepEqual(old, p) {
			m.PeersChanged = append(m.PeersChanged, p)
			changed = true
		}
	}
	for id := range prev.peers {
		if _, ok := cur.peers[id]; !ok {
			m.PeersRemoved = append(m.PeersRemoved, id)
			changed = true
		}
	}
	if !reflect.DeepEqual(prev.filter, cur.filter) {
		m.Filter, m.FilterChanged, changed = cur.filter, true, true
	}
	slices.SortFunc(m.PeersChanged, func(a, b wire.Node) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(m.PeersRemoved)
	return m, changed
}
