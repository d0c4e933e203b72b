package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// Bounds of a relay's feed.
const (
	// feedQueue bounds the messages waiting for one relay; a relay that
	// lets it fill loses its feed (and, closed by default, refuses until
	// it holds a new one).
	feedQueue = 1024
	// feedReadLimit bounds one question.
	feedReadLimit = 1 << 10
	// feedWriteTimeout bounds writing one message.
	feedWriteTimeout = 10 * time.Second
	// maxFeedWatched bounds the keys one relay has the coordinator watch.
	maxFeedWatched = 1 << 20
)

// errRelayCredential refuses a feed without a registered relay's
// credential.
var errRelayCredential = fmt.Errorf("%w: not a relay credential", errBadToken)

// relayFeed is one standalone relay's open authorization feed.
type relayFeed struct {
	name   string
	out    chan wire.RelayFeedMessage
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // mu guards watched
	// watched holds the keys admitted through this feed and their nodes:
	// a change that leaves one not its live node's key cuts it.
	watched map[wire.WGPublic]store.NodeID
}

// send queues m; a full queue ends the feed.
func (f *relayFeed) send(m wire.RelayFeedMessage) {
	select {
	case f.out <- m:
	default:
		f.cancel()
	}
}

// watch records key as admitted for node; false when the feed watches
// maxFeedWatched keys already (then the key is not admitted: one the
// coordinator does not watch would not be cut).
func (f *relayFeed) watch(key wire.WGPublic, node store.NodeID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.watched[key]; !ok && len(f.watched) >= maxFeedWatched {
		return false
	}
	f.watched[key] = node
	return true
}

// unwatch forgets key.
func (f *relayFeed) unwatch(key wire.WGPublic) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, key)
}

// stale returns, and stops watching, the watched keys of ids (nil: all)
// that are no longer their live node's key.
func (f *relayFeed) stale(nm *netmap, ids []store.NodeID) []wire.WGPublic {
	var want map[store.NodeID]bool
	if ids != nil {
		want = make(map[store.NodeID]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var cut []wire.WGPublic
	for key, id := range f.watched {
		if (want == nil || want[id]) && !nm.relayLive(id, key) {
			cut = append(cut, key)
			delete(f.watched, key)
		}
	}
	return cut
}

// handleRelayFeed serves a standalone relay's authorization feed: its
// credential authenticates it, a hello gives it the token key, and then
// it asks and the coordinator answers, bumps generations and cuts.
func (s *control) handleRelayFeed(w http.ResponseWriter, r *http.Request) {
	rel, err := s.relayOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(feedReadLimit)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	f := &relayFeed{name: rel.Name, out: make(chan wire.RelayFeedMessage, feedQueue), ctx: ctx, cancel: cancel,
		watched: map[wire.WGPublic]store.NodeID{}}
	s.relays.attach(f)
	defer s.relays.detach(f)
	// A removal between the lookup and attach found no feed to end.
	if _, err := s.relayOf(r); err != nil {
		ws.Close(websocket.StatusPolicyViolation, "relay removed")
		return
	}
	s.log.Info("relay feed opened", "relay", rel.Name, "from", remoteIP(r))
	hello := wire.RelayFeedHello{Name: rel.Name, TokenKey: s.relay.signer.Public(), Gen: s.relay.gen.Load()}
	go s.feedWriter(ws, f, hello)
	err = s.feedReader(ctx, ws, f)
	cancel()
	ws.Close(websocket.StatusNormalClosure, "")
	s.log.Info("relay feed closed", "relay", rel.Name, "err", err)
}

// relayOf authenticates a relay by the credential it bears.
func (s *control) relayOf(r *http.Request) (store.Relay, error) {
	secret, err := bearer(r)
	if err != nil {
		return store.Relay{}, err
	}
	rel, err := s.st.RelayByHash(r.Context(), hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Relay{}, errRelayCredential
	}
	return rel, err
}

// feedReader answers f's questions until the feed ends.
func (s *control) feedReader(ctx context.Context, ws *websocket.Conn, f *relayFeed) error {
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		var q wire.RelayFeedQuestion
		if typ != websocket.MessageText || json.Unmarshal(b, &q) != nil || q.ID == 0 {
			return errBadRequest
		}
		f.send(s.answer(f, q))
	}
}

// answer answers q at the current generation (read before the answer is
// computed, so a change during it voids the answer).
func (s *control) answer(f *relayFeed, q wire.RelayFeedQuestion) wire.RelayFeedMessage {
	gen := s.relay.gen.Load()
	var ok bool
	if q.Admit {
		// Watched before the check: a change after the check finds the
		// key watched and cuts it; one before, the check sees.
		ok = f.watch(q.Key, store.NodeID(q.Node)) && s.nm.relayLive(store.NodeID(q.Node), q.Key)
		if !ok {
			f.unwatch(q.Key)
		}
	} else if q.Node != 0 && q.ToNode != 0 {
		ok = s.nm.relayPeers(store.NodeID(q.Node), q.Key, store.NodeID(q.ToNode), q.To)
	} else {
		ok = s.nm.relayPeersByKey(q.Key, q.To)
	}
	return wire.RelayFeedMessage{Answer: q.ID, OK: ok, Gen: gen}
}

// feedWriter writes hello, then f's queue, and a keep-alive whenever it
// was silent for wire.RelayFeedKeepAlive, until the feed ends.
func (s *control) feedWriter(ws *websocket.Conn, f *relayFeed, hello wire.RelayFeedHello) {
	defer f.cancel()
	if writeFeed(f.ctx, ws, hello) != nil {
		return
	}
	keep := time.NewTimer(wire.RelayFeedKeepAlive)
	defer keep.Stop()
	for {
		var m wire.RelayFeedMessage
		select {
		case <-f.ctx.Done():
			return
		case m = <-f.out:
		case <-keep.C:
			m = wire.RelayFeedMessage{KeepAlive: true}
		}
		if writeFeed(f.ctx, ws, m) != nil {
			return
		}
		keep.Reset(wire.RelayFeedKeepAlive)
	}
}

// writeFeed writes v as one JSON text message.
func writeFeed(ctx context.Context, ws *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, feedWriteTimeout)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}
