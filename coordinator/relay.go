package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/fault"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// relayTokenLife is how long a relay token admits its key. A connection
// outlives it: revocation cuts connections (relayAuth.changed), the
// token only bounds when a copy of it stops admitting anyone.
const relayTokenLife = 5 * time.Minute

// maxRelayPairs bounds the cached answers of relayAuth; past it the cache
// starts over.
const maxRelayPairs = 1 << 16

// errRelayNotLive refuses a relay token to a node whose key is revoked,
// expired or out of the policy.
var errRelayNotLive = fault.New(fault.Forbidden, "node key expired or revoked: no relay token")

// errNoRelay answers a token request when no relay is on: the
// coordinator's is disabled and none is registered.
var errNoRelay = fault.New(fault.NotFound, "no relay")

// relayAuth is the in-coordinator relay's admission and authorization:
// it issues tokens to live nodes, answers per frame whether two keys are
// peers under the current policy (from a cache that every netmap change
// empties), and cuts a node's key from the relay when a change leaves it
// revoked, expired, removed or holding another key.
type relayAuth struct {
	nm     *netmap
	signer *relay.Signer
	srv    *relay.Server
	// gen counts netmap changes; a cached answer of an older gen is void.
	gen atomic.Uint64

	mu sync.RWMutex // mu guards the following
	// cacheGen is the gen the answers in cache were computed at (or
	// before: an answer is stored under the gen read before computing).
	cacheGen uint64
	cache    map[[2]wire.WGPublic]bool
	// issued maps each node given a token to the key it was for, and
	// byKey the reverse.
	issued map[store.NodeID]wire.WGPublic
	byKey  map[wire.WGPublic]store.NodeID
}

// newRelayAuth returns the relay of a coordinator over nm, issuing and
// admitting tokens of signer.
func newRelayAuth(nm *netmap, signer *relay.Signer, log *slog.Logger) *relayAuth {
	a := &relayAuth{nm: nm, signer: signer, cache: map[[2]wire.WGPublic]bool{},
		issued: map[store.NodeID]wire.WGPublic{}, byKey: map[wire.WGPublic]store.NodeID{}}
	a.srv = relay.NewServer(relay.Config{Verifier: relay.NewVerifier(signer.Public(), 0), Authorizer: a, Logger: log})
	return a
}

// MayAdmit admits a token (this coordinator's, or on a database another
// coordinator's signed with the same key, see relaySigner) while its key
// is its node's live key here, and records the key, so that frames from
// and to it are answered and a later change cuts it (relay.Admitter).
func (a *relayAuth) MayAdmit(c relay.Claims) bool {
	id := store.NodeID(c.Node)
	if !a.nm.relayLive(id, c.Key) {
		return false
	}
	a.record(id, c.Key)
	return true
}

// MayRelay reports whether from and to are the current keys of two live
// nodes that are peers under the current policy.
func (a *relayAuth) MayRelay(from, to wire.WGPublic) bool {
	pair := [2]wire.WGPublic{from, to}
	g := a.gen.Load()
	a.mu.RLock()
	ok, known := a.cache[pair]
	known = known && a.cacheGen == g
	idFrom, okFrom := a.byKey[from]
	idTo, okTo := a.byKey[to]
	a.mu.RUnlock()
	if known {
		return ok
	}
	ok = okFrom && okTo && a.nm.relayPeers(idFrom, from, idTo, to)
	a.mu.Lock()
	if a.cacheGen != g && a.gen.Load() == g {
		a.cacheGen = g
		clear(a.cache)
	}
	if a.cacheGen == g && len(a.cache) < maxRelayPairs {
		a.cache[pair] = ok
	}
	a.mu.Unlock()
	return ok
}

// issue returns a token for node n's current key, cutting a key it was
// given one for before.
func (a *relayAuth) issue(n store.Node, now time.Time) (string, time.Time, error) {
	key := wire.WGPublic(n.WGKey)
	if !n.KeyRevokedAt.IsZero() || !a.nm.relayLive(n.ID, key) {
		return "", time.Time{}, errRelayNotLive
	}
	exp := now.Add(relayTokenLife)
	if !n.KeyExpiry.IsZero() && n.KeyExpiry.Before(exp) {
		exp = n.KeyExpiry
	}
	tok, err := a.signer.Issue(relay.Claims{Key: key, Node: wire.NodeID(n.ID), IssuedAt: now, Expiry: exp})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("relay token for %s: %w", n.Name, err)
	}
	a.record(n.ID, key)
	return tok, exp, nil
}

// record makes key node id's known key, cutting the one it had before.
func (a *relayAuth) record(id store.NodeID, key wire.WGPublic) {
	a.mu.Lock()
	old, had := a.issued[id]
	a.issued[id], a.byKey[key] = key, id
	if had && old != key {
		delete(a.byKey, old)
	}
	a.mu.Unlock()
	a.gen.Add(1)
	if had && old != key {
		a.srv.Cut(old)
	}
}

// changed voids every cached answer and cuts the keys of ids (nil: of
// every node given a token) that are no longer their live node's key. The
// hub calls it with every change it wakes map streams for, so a node
// leaves the relay when it leaves the maps.
func (a *relayAuth) changed(ids []store.NodeID) {
	a.gen.Add(1)
	var cut []wire.WGPublic
	a.mu.Lock()
	check := func(id store.NodeID, key wire.WGPublic) {
		if !a.nm.relayLive(id, key) {
			cut = append(cut, key)
			delete(a.issued, id)
			delete(a.byKey, key)
		}
	}
	if ids == nil {
		for id, key := range a.issued {
			check(id, key)
		}
	}
	for _, id := range ids {
		if key, ok := a.issued[id]; ok {
			check(id, key)
		}
	}
	a.mu.Unlock()
	for _, k := range cut {
		a.srv.Cut(k)
	}
}

// relayLive reports whether key is node id's current key and the node is
// in the policy (registered, key neither expired nor revoked).
func (m *netmap) relayLive(id store.NodeID, key wire.WGPublic) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	return ok && m.live[id] && wire.WGPublic(n.WGKey) == key && n.KeyRevokedAt.IsZero()
}

// relayPeers reports whether ka and kb are the current keys of live nodes
// a and b, and b is among a's peers (as a's map lists them, viewOf).
func (m *netmap) relayPeers(a store.NodeID, ka wire.WGPublic, b store.NodeID, kb wire.WGPublic) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.relayPeersLocked(a, ka, b, kb)
}

// relayPeersByKey is relayPeers for the nodes holding ka and kb, for a
// standalone relay, which knows keys only. It scans the nodes: the relay
// caches its answers until the next change.
func (m *netmap) relayPeersByKey(ka, kb wire.WGPublic) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	var a, b store.NodeID
	for id, n := range m.nodes {
		switch wire.WGPublic(n.WGKey) {
		case ka:
			a = id
		case kb:
			b = id
		}
	}
	return a != 0 && b != 0 && m.relayPeersLocked(a, ka, b, kb)
}

func (m *netmap) relayPeersLocked(a store.NodeID, ka wire.WGPublic, b store.NodeID, kb wire.WGPublic) bool {
	na, okA := m.nodes[a]
	nb, okB := m.nodes[b]
	if !okA || !okB || !m.live[a] || !m.live[b] || wire.WGPublic(na.WGKey) != ka || wire.WGPublic(nb.WGKey) != kb {
		return false
	}
	res, err := m.comp.Result(na.Name)
	return err == nil && slices.Contains(res.Peers, nb.Name)
}

// handleRelayToken gives the calling node a token for the relays.
func (s *control) handleRelayToken(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil && len(*s.relays.current()) == 0 {
		err = errNoRelay
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, exp, err := s.relay.issue(n, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RelayTokenResponse{Token: tok, Expires: exp.UTC()})
}

// initRelay makes the relays' token signer and the coordinator's relay
// (served unless disabled), loads the registered relays, and has the hub
// tell both relays kinds of every netmap change. Call it once the netmap
// is loaded.
func (s *Server) initRelay(ctx context.Context) error {
	signer, err := relaySigner(s.cfg)
	if err != nil {
		return err
	}
	a := newRelayAuth(s.nm, signer, s.log)
	var own *wire.Relay
	if !s.cfg.DisableRelay {
		own = &wire.Relay{Name: ownRelayName, URL: wire.PathRelay, STUN: s.cfg.STUN, STUNAlt: s.cfg.STUNAlt}
		if s.cfg.RelayURL != "" {
			own.Name, own.URL = s.cfg.RelayName, s.cfg.RelayURL
		}
	}
	s.relay, s.relays = a, newRelayDir(own)
	if err := s.registerOwnRelay(ctx); err != nil {
		return err
	}
	if err := s.loadRelays(ctx); err != nil {
		return fmt.Errorf("load relays: %w", err)
	}
	s.hub.onChange = func(ids []store.NodeID) {
		a.changed(ids)
		s.relays.changed(s.nm, ids, a.gen.Load())
	}
	return nil
}
