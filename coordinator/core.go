package coordinator

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// core is what the coordinator's services (control, logins, fleet) share,
// each through a pointer it embeds: the configuration, the store, the
// fleet's netmap and its map fan-out, the control sessions, the audit log,
// the per-source limits and the lifetime of background work. Its methods
// are the operations more than one service needs: the serialized netmap
// updates (reloadNode, dropNode, refreshUsers), cutting and removing nodes,
// auditing, and the control API's request helpers.
type core struct {
	// cfg is the configuration with its defaults; logins sets Auth once,
	// in New, before anything is served.
	cfg Config
	log *slog.Logger
	// auditKey signs the audit log's checkpoints; set in New.
	auditKey ed25519.PrivateKey
	// alerts evaluates Config.AlertRules; nil without rules.
	alerts *alerter
	// alertRulesMu orders alert rule saves, so the version in force is
	// the newest stored.
	alertRulesMu sync.Mutex
	// export streams the audit log to the "audit_export" of the rules in
	// force.
	export *auditExport
	st     store.Store
	// jobs picks the one coordinator on the database that runs each
	// periodic job; nil: this one runs them all (see runsJob).
	jobs store.Jobs
	// replicas forwards beats to the other coordinators on the database;
	// nil: there are none.
	replicas store.Changes
	nm       *netmap
	hub      *hub
	// sess issues and checks the nodes' control sessions.
	sess *sessions
	// refusals bounds the audit rows of refused unauthenticated calls.
	refusals *refusals
	// limits throttle unauthenticated callers per source address.
	limits  *limiters
	metrics *metrics
	// presence batches the map streams' presence writes (run by Server).
	presence *presenceLog
	// grants numbers the distinct sets of grants the maps carry.
	grants *grantTable
	// routes interns the sets of routes viewers send through a peer.
	routes *grantTable
	// audits group-commits audit events.
	audits *auditBatcher
	// regs group-commits registrations with pre-auth keys and their
	// audit rows.
	regs *regBatcher
	// paths holds each node's latest path report (memory only).
	paths *pathReports
	// relay signs the relays' tokens and is the relay served on the
	// coordinator's port (unless Config.DisableRelay). Set by Server.init,
	// before anything is served.
	relay *relayAuth
	// relays lists the relays maps carry and holds the standalone relays'
	// feeds. Set by Server.init.
	relays *relayDir
	// ro is the rollout engine; set by New.
	ro *rollouts
	// reloadMu serializes the netmap's updates from the store (reloadNode,
	// dropNode, refreshUsers, loadRequests):
	// each holds it across its store read and its netmap update, so two
	// updates cannot apply an older read after a newer one, and a record
	// read before a change (a disable, an expiry, a retag, a removal) is
	// never put back after it. It is taken before netmap.mu and hub.mu.
	reloadMu sync.Mutex
	// gone are nodes removed while the netmap did not hold them
	// (reloadRegistered); guarded by reloadMu.
	gone goneIDs

	// ctx ends with the server (Close); background work and map streams
	// watch it, and wg tracks the goroutines started with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newCore returns the shared core over an open store; the netmap is set by
// Server.init.
func newCore(cfg Config, st store.Store) *core {
	c := &core{cfg: cfg, log: cfg.Logger, st: st, hub: newHub(time.Now()),
		sess: newSessions(30*time.Second, cfg.SessionTTL), metrics: newMetrics(), refusals: newRefusals(),
		paths: newPathReports(maxPathReports), presence: newPresenceLog(st, cfg.Logger), grants: newGrantTable(), routes: newGrantTable(), audits: newAuditBatcher(st), regs: newRegBatcher(st)}
	c.limits = newLimiters(&c.cfg, c.metrics.reg)
	c.alerts = newAlerter(cfg.AlertRules, c.deadLetter, &c.cfg)
	c.export = newAuditExport(&c.cfg, c.metrics.reg)
	c.metrics.reg.MustRegister(newPathCollector(c.paths))
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}
