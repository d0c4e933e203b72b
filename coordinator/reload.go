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
// hand it a record of their own; the write itself told the other
// coordinators on the database (the change log), which call it too. A
// node the store no longer holds is dropped from the netmap (never
// re-added) and the error matches store.ErrNotFound.
func (s *core) reloadNode(ctx context.Context, id store.NodeID) (store.Node, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	n, err := s.st.Node(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.removeFromNetmap(id)
		return store.Node{}, fmt.Errorf("reload node %d: %w", id, err)
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("reload node %d: %w", id, err)
	}
	_, had := s.nm.node(id)
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
