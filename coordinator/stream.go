package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
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
	s.streamOpened(r.Context(), n, remoteIP(r))
	defer s.streamClosed(n)
	defer s.hub.unsubscribe(n.ID, sub)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // a resumed stream may have nothing to send yet
	bw := bufio.NewWriter(w)
	st := &streamState{s: s, id: n.ID, enc: json.NewEncoder(bw), flush: func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}}
	if last, ok := s.hub.lastSent(n.ID); ok && since != 0 && last.version == since {
		st.prev, st.started, st.relays = last.view, true, last.relays
	}
	s.streamLoop(r.Context(), st, sub, ss.expires)
}

type streamState struct {
	s       *control
	id      store.NodeID
	enc     *json.Encoder
	flush   func() error
	prev    view
	started bool
	// relays is the relay list last sent (a relayDir list, compared by
	// pointer).
	relays *[]wire.Relay
}

func (s *control) streamLoop(ctx context.Context, st *streamState, sub *subscriber, expires time.Time) {
	ka := time.NewTicker(s.cfg.KeepAlive)
	defer ka.Stop()
	end := time.NewTimer(time.Until(expires))
	defer end.Stop()
	for {
		if !st.sendUpdate(sub) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-end.C:
			return
		case <-sub.wake:
		case <-ka.C:
			keep := wire.MapResponse{KeepAlive: true, Version: s.hub.version.Load(), ServerTime: time.Now().UTC()}
			if st.enc.Encode(keep) != nil || st.flush() != nil {
				return
			}
		}
	}
}

// sendUpdate writes the full map or the delta since the last message, if
// anything changed. It returns false when the stream must end.
func (st *streamState) sendUpdate(sub *subscriber) bool {
	pending := sub.since.Swap(0)
	cur, ok := st.s.nm.viewOf(st.id)
	if !ok {
		return false // node removed
	}
	var msg wire.MapResponse
	relays := st.s.relays.current()
	if st.started {
		d, changed := delta(st.prev, cur)
		if !changed && relays == st.relays {
			return true
		}
		msg = d
		msg.Version = st.s.hub.nextVersion()
		if relays != st.relays {
			msg.Relays, msg.RelaysChanged = *relays, true
		}
	} else {
		msg = fullMap(cur, st.s.hub.nextVersion())
		msg.Relays = *relays
	}
	msg.ServerTime = time.Now().UTC()
	if st.enc.Encode(msg) != nil || st.flush() != nil {
		return false
	}
	st.prev, st.started, st.relays = cur, true, relays
	st.s.hub.recordSent(st.id, sentView{version: msg.Version, view: cur, relays: relays})
	st.s.metrics.mapSends.Inc()
	if pending != 0 {
		st.s.metrics.mapLatency.Observe(time.Since(time.Unix(0, pending)).Seconds())
	}
	return true
}

func (s *control) streamOpened(ctx context.Context, n store.Node, from string) {
	if s.hub.streams(n.ID) > 1 {
		return
	}
	s.metrics.nodesOnline.Inc()
	now := time.Now().UTC()
	if err := s.st.SetPresence(ctx, n.ID, now, true); err != nil {
		s.log.Warn("set presence", "node", n.Name, "err", err)
	}
	s.hub.notify(s.nm.setOnline(n.ID, true, now))
	s.audit(ctx, "node:"+n.Name, "node.online", "node:"+n.Name, from, nil)
}

func (s *control) streamClosed(n store.Node) {
	if s.hub.connected(n.ID) {
		return
	}
	s.metrics.nodesOnline.Dec()
	if s.ctx.Err() != nil {
		return // shutting down: the store may be closing
	}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.st.SetPresence(ctx, n.ID, now, false); err != nil {
		s.log.Warn("set presence", "node", n.Name, "err", err)
	}
	s.hub.notify(s.nm.setOnline(n.ID, false, now))
	s.audit(ctx, "node:"+n.Name, "node.offline", "node:"+n.Name, "", nil)
}
