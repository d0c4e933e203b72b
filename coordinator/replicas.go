package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// applyChange applies a change another coordinator on the database made:
// it reads what changed from the store and feeds the netmap and the hub
// as a change of its own would, without announcing it again.
func (s *Server) applyChange(c store.Change) {
	var err error
	switch c.Kind {
	case store.ChangeNode:
		err = s.applyNode(c.Node)
	case store.ChangeUsers:
		err = s.refreshUsers(s.ctx)
	case store.ChangePolicy:
		err = s.loadStoredPolicy(s.ctx)
	case store.ChangeRelays:
		err = s.applyRelays(s.ctx)
	case store.ChangeRequests:
		err = s.loadRequests(s.ctx)
	case store.ChangeResync:
		err = s.resync(s.ctx)
	case store.ChangeBeat:
		err = s.control.applyBeat(c.Machine)
	case store.ChangePresence:
		err = s.applyNodePresence(c.Node)
	case store.ChangeLogin:
		s.logins.pending.wake() // a waiting node here reads its login again
	}
	if err != nil && s.ctx.Err() == nil {
		s.log.Error("apply another coordinator's change", "kind", string(c.Kind), "node_id", c.Node, "err", err)
	}
}

// applyNode reloads node id; when another coordinator removed it, it also
// ends the node's sessions here, as removeNode does where it ran.
func (s *Server) applyNode(id store.NodeID) error {
	old, had := s.nm.node(id)
	_, err := s.reloadNode(s.ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if had { // reloadNode dropped it from the netmap
		s.sess.revokeMachine(wire.MachinePublic(old.MachineKey))
		s.hub.forget(id)
	}
	return nil
}

// loadStoredPolicy puts the latest stored policy in force, as another
// coordinator saved it.
func (s *Server) loadStoredPolicy(ctx context.Context) error {
	latest, err := s.st.LatestPolicy(ctx)
	if err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	rs, err := s.fleet.checkPolicy(fmt.Sprintf("policy-v%d", latest.ID), latest.Text)
	if err != nil {
		return fmt.Errorf("policy v%d: %w", latest.ID, err)
	}
	if err := s.nm.setPolicy(rs, time.Now()); err != nil {
		return err
	}
	s.hub.notifyAll()
	return nil
}

// resync reads everything another coordinator may have changed while this
// one was not listening: users, the policy, the relays and every node,
// including those the store no longer holds.
func (s *Server) resync(ctx context.Context) error {
	if err := s.refreshUsers(ctx); err != nil {
		return err
	}
	if err := s.loadStoredPolicy(ctx); err != nil {
		return err
	}
	if err := s.applyRelays(ctx); err != nil {
		return err
	}
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	ids := s.nm.ids()
	for _, n := range nodes {
		ids[n.ID] = true
	}
	for id := range ids {
		if _, err := s.reloadNode(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.loadRequests(ctx)
}

// The periodic jobs exactly one coordinator on a database runs.
const (
	jobReapEphemeral = "reap-ephemeral"
	jobExpiryAudit   = "key-expiry-audit"
	jobIdPRefresh    = "idp-refresh"
	// jobAuditCheckpoint appends the audit log's periodic checkpoint.
	jobAuditCheckpoint = "audit-checkpoint"
	// jobFlowPrune deletes flow records past the retention.
	jobFlowPrune = "flow-prune"
	// jobOfflineAlerts evaluates the offline alert rules.
	jobOfflineAlerts = "offline-alerts"
	// jobRollouts evaluates the rollouts' gates and timeouts.
	jobRollouts = "rollouts"
	// jobTraffic learns the traffic baselines and evaluates the
	// unusual-traffic rules (traffic.go).
	jobTraffic = "traffic"
	// jobAuditExport streams the audit log to its destinations.
	jobAuditExport = "audit-export"
)

// runsJob reports whether this coordinator runs job now (see store.Jobs).
func (s *core) runsJob(job string) bool {
	return s.jobs == nil || s.jobs.RunsJob(s.ctx, job)
}

// shareSessions makes nodes' control sessions good on every coordinator
// of a PostgreSQL database (sessions.share): a balancer without sticky
// sessions then costs a node no new handshake when its requests land
// elsewhere. On SQLite (one coordinator) the keys stay random per
// process.
func (s *Server) shareSessions() error {
	if s.cfg.DB == "" {
		return nil
	}
	key, err := tokenKey(s.cfg)
	if err != nil {
		return err
	}
	return s.sess.share(key, s.st)
}

// applyNodePresence reads node id's presence, which another coordinator
// changed (a stream opened or closed there, or its hold lapsed), and puts
// it into force here.
func (s *Server) applyNodePresence(id store.NodeID) error {
	n, err := s.st.Node(s.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.control.applyPresence(store.Presence{ID: id, LastSeen: n.LastSeen, Online: n.Online})
	return nil
}
