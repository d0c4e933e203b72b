package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// reloadTimeout bounds one reload's store read. The read does not end
// with the request that caused it: a caller that hangs up after its write
// must not leave the netmap behind the store.
const reloadTimeout = 30 * time.Second

// reloadNode puts node id's record, as the store holds it now, in the
// netmap and wakes the streams it touches. It is the only way a changed
// node reaches the netmap: callers write the store, then call it, never
// hand it a record of their own (but a registration, for the node it has
// just made: reloadRegistered); the write itself told the other
// coordinators on the database (the change log), which call it too. A
// node the store no longer holds is dropped from the netmap (never
// re-added) and the error matches store.ErrNotFound.
func (s *core) reloadNode(ctx context.Context, id store.NodeID) (store.Node, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked(ctx, id)
}

// reloadLocked is reloadNode under reloadMu.
func (s *core) reloadLocked(ctx context.Context, id store.NodeID) (store.Node, error) {
	n, err := s.st.Node(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.removeFromNetmap(id)
		return store.Node{}, fmt.Errorf("reload node %d: %w", id, err)
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("reload node %d: %w", id, err)
	}
	_, had := s.nm.node(id)
	return s.applyLocked(n, had)
}

// reloadRegistered puts node n, as the registration that made it has
// just committed it, in the netmap without reading it back from the
// store: the registration's transaction read it after writing it, so it
// is what a read now would give unless something changed the node
// since. Nothing but an update in order under reloadMu can have: a
// reload of the node (it is then in the netmap, newer than n) or its
// removal (dropNode, a reload that found it gone: removeFromNetmap notes
// a node it did not hold in gone). Then, and for a record the netmap
// holds already (a re-registration of a revoked node keeps its id), it
// is reloadNode. Reason: every registration read its node back while
// holding reloadMu, the one lock registrations pass through in turn, on
// a read connection the fleet's sessions and streams also wait for;
// with the fleet's streams open, 17-31 registrations were found queued
// behind it.
func (s *core) reloadRegistered(ctx context.Context, n store.Node) (store.Node, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if _, had := s.nm.node(n.ID); had || s.gone.has(n.ID) {
		return s.reloadLocked(ctx, n.ID)
	}
	return s.applyLocked(n, false)
}

// applyLocked puts n, the store's record now, in the netmap (had: it
// held the node) and wakes the streams it touches. Callers hold
// reloadMu.
func (s *core) applyLocked(n store.Node, had bool) (store.Node, error) {
	ids, err := s.nm.upsert(n, time.Now())
	if had {
		s.hub.notifyPeer(n.ID, ids, true) // on error too: the node may have left the policy
	} else {
		s.hub.notifyJoined(n.ID, ids)
	}
	s.notifyRouteViewers(n.ID)
	if a := s.nm.takeAdmitted(); len(a) > 0 {
		s.hub.notify(a)
	}
	if errors.Is(err, errNameWaits) {
		// The store gave n the name of a record whose removal has not
		// reached the netmap yet: n joins the policy when it does.
		s.log.Info("node waits for its name", "node", n.Name, "err", err)
		return n, nil
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("reload node %s: %w", n.Name, err)
	}
	return n, nil
}

// dropNode removes node id, which the store no longer holds, from the
// netmap, in order with reloadNode, and tells the streams it touched.
func (s *core) dropNode(id store.NodeID) {
	s.reloadMu.Lock()
	s.removeFromNetmap(id)
	s.reloadMu.Unlock()
}

// removeFromNetmap removes node id from the netmap and tells the streams
// it touched that the node left, and the node's own streams, which see it
// is gone and end. A disagreement of the netmap and the policy compiler
// is repaired by the netmap (see netmap.remove), logged here, and every
// node it returns recomputes its whole map: the caller's action (a
// removal) has happened either way. Callers hold reloadMu.
func (s *core) removeFromNetmap(id store.NodeID) {
	if _, held := s.nm.node(id); !held {
		s.gone.add(id) // a registration's record must not bring it back
	}
	s.paths.forget(id)
	ids, err := s.nm.remove(id, time.Now())
	if a := s.nm.takeAdmitted(); len(a) > 0 {
		defer s.hub.notify(a)
	}
	if err != nil {
		s.log.Error("netmap and policy compiler disagreed; recompiled", "node_id", id, "err", err)
		s.hub.notify(append(ids, id))
		return
	}
	s.hub.notifyPeer(id, ids, true)
	s.hub.notify([]store.NodeID{id})
}

// refreshUsers reloads users (emails, IdP groups) into the policy, after
// a write of this coordinator's or another's.
func (s *core) refreshUsers(ctx context.Context) error {
	// Read and apply in order with every other netmap update, so that an
	// older read of the users (a group since removed) never lands last.
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	touched, err := s.nm.setUsers(users, time.Now())
	if err != nil {
		return err
	}
	for _, t := range touched {
		s.hub.notifyPeer(t.subject, t.ids, true)
	}
	return nil
}

// goneMax bounds goneIDs. It holds the nodes removed while the netmap did
// not hold them (a removal racing the registration that made the node,
// rare); an id leaves it only once goneMax newer ones came, long after
// any registration of it has been answered.
const goneMax = 4096

// goneIDs are the ids of nodes removed from the store that the netmap did
// not hold when their removal reached it (see reloadRegistered). Guarded
// by core.reloadMu.
type goneIDs struct {
	set   map[store.NodeID]struct{}
	order []store.NodeID
}

func (g *goneIDs) has(id store.NodeID) bool {
	_, ok := g.set[id]
	return ok
}

func (g *goneIDs) add(id store.NodeID) {
	if g.has(id) {
		return
	}
	if g.set == nil {
		g.set = map[store.NodeID]struct{}{}
	}
	if len(g.order) >= goneMax {
		delete(g.set, g.order[0])
		g.order = g.order[1:]
	}
	g.set[id] = struct{}{}
	g.order = append(g.order, id)
}
