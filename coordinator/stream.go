package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// handleMap streams the caller's map: a full map (or a delta when it
// resumes from a version the coordinator remembers), then a delta whenever
// something it receives changes, and keep-alives in between. The stream
// ends when the session expires, the node is removed, or the server stops.
func (s *control) handleMap(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.nodeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	version, _ := strconv.Atoi(r.URL.Query().Get(wire.MapQueryVersion))
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errBadRequest)
		return
	}
	sub, ok := s.hub.subscribe(n.ID)
	if !ok {
		s.writeError(w, r, errTooManyStreams)
		return
	}
	s.streamOpened(n)
	defer s.streamClosed(n)
	defer s.hub.unsubscribe(n.ID, sub)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // a resumed stream may have nothing to send yet
	st := &streamState{s: s, id: n.ID, w: w, flush: flusher.Flush, sent: s.hub.resumable(n.ID, since),
		noDeny: !wire.Supports(version, wire.FeatureDenyRules)}
	if st.sent == nil {
		st.sent = &sentState{}
	}
	s.hub.recordSent(n.ID, st.sent)
	s.streamLoop(r.Context(), st, sub, ss.expires)
}

// streamState is one stream's writer and what it sent.
type streamState struct {
	s     *control
	id    store.NodeID
	w     io.Writer
	flush func()
	// sent is what the node holds; its version is 0 until the first
	// message (a resumed stream starts from a copy of an earlier one's).
	sent *sentState
	// buf is the message being written; it goes back to msgBufs after.
	buf []byte
	// nextAt is when the stream may send again after a large message
	// (see paceAfter).
	nextAt time.Time
	// noDeny is set for a node older than wire.FeatureDenyRules, which
	// would read a deny rule as an accept (see withoutDenies).
	noDeny bool
}

// msgBufs holds message buffers between messages: a stream holds none
// while idle (a gateway's messages are megabytes).
var msgBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer kept for reuse.
const maxPooledBuf = 1 << 20

// Large messages are paced: after one of n bytes (a gateway's filter
// lists every sensor, and every sensor that joins changes it), a stream
// waits n / paceRate (at most maxPace) before its next message, so that
// a burst of joins reaches it as one message rather than one per join.
// Messages under paceFrom bytes are not paced.
const (
	paceFrom = 64 << 10
	paceRate = 2 << 20 // bytes a second
	maxPace  = time.Second
)

// paceAfter is how long a stream waits after a message of n bytes.
func paceAfter(n int) time.Duration {
	if n < paceFrom {
		return 0
	}
	return min(maxPace, time.Duration(n)*time.Second/paceRate)
}

// streamLoop sends the first map, then waits: a wake sends what changed,
// a tick a keep-alive (which recomputes nothing).
func (s *control) streamLoop(ctx context.Context, st *streamState, sub *subscriber, expires time.Time) {
	ka := time.NewTicker(s.cfg.KeepAlive)
	defer ka.Stop()
	end := time.NewTimer(time.Until(expires))
	defer end.Stop()
	if !st.sendUpdate(sub, true) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-end.C:
			return
		case <-sub.wake:
			if !st.pace(ctx) || !st.sendUpdate(sub, false) {
				return
			}
		case <-ka.C:
			keep := wire.MapResponse{KeepAlive: true, Version: s.hub.version.Load(), ServerTime: time.Now().UTC()}
			b, _ := json.Marshal(keep)
			if !st.write(append(b, '\n')) {
				return
			}
		}
	}
}

// pace waits until the stream may send again; false when ctx ends first.
func (st *streamState) pace(ctx context.Context) bool {
	d := time.Until(st.nextAt)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-st.s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (st *streamState) write(b []byte) bool {
	if _, err := st.w.Write(b); err != nil {
		return false
	}
	st.flush()
	return true
}

// sendUpdate writes the full map, or the delta of what is pending, if
// anything changed. first (the stream's first message) and a pending
// "all" diff the whole map against what the node holds. It returns false
// when the stream must end.
func (st *streamState) sendUpdate(sub *subscriber, first bool) bool {
	pend := sub.take()
	since := sub.since.Swap(0)
	whole := first || pend.all
	var only []store.NodeID
	if !whole {
		only = make([]store.NodeID, 0, len(pend.peers))
		for id := range pend.peers {
			only = append(only, id)
		}
	}
	relays := st.s.relays.current()
	if !whole && len(only) == 0 && !pend.filter && relays == st.sent.relays {
		return true
	}
	ms, ok := st.s.nm.mapOf(st.id, only, whole || pend.filter)
	st.s.metrics.mapBuilds.WithLabelValues(buildKind(whole)).Inc()
	if !ok {
		return false // node removed
	}
	bp := msgBufs.Get().(*[]byte)
	st.buf = (*bp)[:0]
	// The state is updated before the write, outside its lock during it: a
	// reconnecting node's new stream copies it (hub.resumable) and must not
	// wait on a write to a dead connection. A message that fails to go
	// leaves a version the node never saw, so no resume matches it.
	st.sent.mu.Lock()
	b, changed := st.build(ms, whole, relays)
	st.sent.mu.Unlock()
	written := true
	if changed {
		written = st.write(b)
		st.nextAt = time.Now().Add(paceAfter(len(b)))
	}
	if cap(st.buf) <= maxPooledBuf {
		*bp = st.buf[:0]
		msgBufs.Put(bp)
	}
	st.buf = nil
	if !changed || !written {
		return written
	}
	st.s.metrics.mapSends.Inc()
	if since != 0 {
		st.s.metrics.mapLatency.Observe(time.Since(time.Unix(0, since)).Seconds())
	}
	return true
}

func buildKind(whole bool) string {
	if whole {
		return "whole"
	}
	return "delta"
}

// build makes the message from ms and updates st.sent (held) to it; ok
// is false when the node already holds all of it.
func (st *streamState) build(ms mapState, whole bool, relays *[]wire.Relay) ([]byte, bool) {
	sent := st.sent
	full := sent.version == 0
	var head wire.MapResponse
	changed := false
	peers := sent.peers
	if whole {
		peers = make(map[wire.NodeID]sentPeer, len(ms.peers))
	}
	var enc []encPeer
	for _, p := range ms.peers {
		gid, genc := st.s.grants.intern(st.s.nm.grants(p, ms.selfAddrs))
		id, sp := p.rec.node.ID, sentPeer{ver: p.rec.ver, grants: gid}
		if old, ok := sent.peers[id]; full || !ok || old != sp {
			enc = append(enc, encPeer{id: id, enc: p.rec.json(gid, genc)})
		}
		peers[id] = sp // (sent.peers itself in a delta: after the comparison)
	}
	if whole {
		for id := range sent.peers {
			if _, ok := peers[id]; !ok {
				head.PeersRemoved = append(head.PeersRemoved, id)
			}
		}
	} else {
		for _, id := range ms.absent {
			if _, ok := peers[wire.NodeID(id)]; ok {
				delete(peers, wire.NodeID(id))
				head.PeersRemoved = append(head.PeersRemoved, wire.NodeID(id))
			}
		}
	}
	changed = len(enc) > 0 || len(head.PeersRemoved) > 0
	if whole && (full || !reflect.DeepEqual(sent.self, ms.self)) {
		self := ms.self
		head.Self, changed = &self, true
	}
	rules := ms.filter
	if st.noDeny {
		rules = withoutDenies(rules)
	}
	if sum := st.s.nm.src.filterSum(ms.filter); ms.filter != nil && (full || sum != sent.filter) {
		head.FilterChanged, changed = true, true
		sent.filter = sum
	} else {
		rules = nil
	}
	if full || relays != sent.relays {
		head.Relays, head.RelaysChanged, changed = *relays, !full, true
	}
	if !changed {
		sent.peers = peers
		return nil, false
	}
	slices.Sort(head.PeersRemoved)
	head.Full = full
	head.Version = st.s.hub.nextVersion()
	head.ServerTime = time.Now().UTC()
	key := "peers_changed"
	if full {
		key = "peers"
	}
	st.buf = appendMsg(st.buf[:0], &head, key, enc, rules, st.s.nm.src)
	sent.version, sent.peers, sent.relays = head.Version, peers, relays
	if head.Self != nil {
		sent.self = ms.self
	}
	return st.buf, true
}

func (s *control) streamOpened(n store.Node) {
	if s.hub.streams(n.ID) > 1 {
		return
	}
	s.metrics.nodesOnline.Inc()
	s.metrics.presence.WithLabelValues("online").Inc()
	now := time.Now().UTC()
	s.presence.record(n.ID, now, true)
	s.hub.notifyPeer(n.ID, s.nm.setOnline(n.ID, true, now), false)
}

func (s *control) streamClosed(n store.Node) {
	if s.hub.connected(n.ID) {
		return
	}
	s.metrics.nodesOnline.Dec()
	s.metrics.presence.WithLabelValues("offline").Inc()
	if s.ctx.Err() != nil {
		return // shutting down: the store may be closing
	}
	now := time.Now().UTC()
	s.presence.record(n.ID, now, false)
	s.hub.notifyPeer(n.ID, s.nm.setOnline(n.ID, false, now), false)
}
