package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// control serves the nodes' control API: the session handshake
// (challenge, session), registration with a pre-auth key, key rotation,
// reports (endpoints, exposed ports, denied flows, paths) and the map
// stream. It
// limits each node's rotations and reports, and aggregates the denied
// flows they report.
type control struct {
	*core
	// rotations limits each node's key rotations.
	rotations *ratelimit.Keyed[store.NodeID]
	// reports limits each node's reports.
	reports *ratelimit.Keyed[store.NodeID]
	// updates limits each node's update polls and TUF fetches.
	updates *ratelimit.Keyed[store.NodeID]
	// denied aggregates the denied flows nodes report.
	denied *deniedFlows
	// flows stores the flow logs nodes post.
	flows *flowIngest
	// watchLimit limits each node's watch-event batches.
	watchLimit *ratelimit.Keyed[store.NodeID]
	// pace is how long a map stream waits after a message of n bytes
	// (paceAfter, at least Config.MapCoalesce; set before serving).
	pace func(n int) time.Duration
	// admit bounds the rate at which map streams open (one bucket).
	admit *ratelimit.Keyed[struct{}]
	// reopen bounds the rate at which each node opens map streams.
	reopen *ratelimit.Keyed[store.NodeID]
	// downloads holds a slot per TUF target being served
	// (Config.MaxTargetDownloads), one per node.
	downloads *targetSlots
	// beats holds the routers' liveness beats (wire.PathBeat).
	beats *beatBoard
	// marks serializes the nodes' online and offline marks.
	marks *onlineMarks
	// settleHook, when set (tests only), runs in settleOnline between its
	// check and its mark.
	settleHook atomic.Pointer[func(id store.NodeID, on bool)]
	// forwards bounds the beats forwarded to other coordinators, per
	// machine (see handleBeat).
	forwards *ratelimit.Keyed[wire.MachinePublic]
	// lines holds the lineages of the view classes' peer sets (see
	// lineage).
	lines lineages
	// work runs the map streams' computations off their handler
	// goroutines (see offload).
	work *offload
	// budget bounds the bytes of map messages made and not yet written
	// (Config.MapWriteBudget; nil: none).
	budget *mapBudget
	// making makes the map messages (prepareUpdate) of the streams that
	// hold a turn of budget: a pool of its own, as large as the turns
	// given at once, so a turn never queues behind the streams' setups
	// and ends on work. With one pool, 28,000 streams opening and 21,000
	// closing queued ahead of the eight turns in a 50,000-node run, and
	// the fleet's updates (first maps too) came at the pace of that queue.
	making *offload
	// urgent runs what a waiting stream checks on a wake (the narrowing
	// check, the removals): a pool of its own, so a stream whose turn
	// comes while it checks does not hold its turn in the queue behind
	// the streams' setups and ends on work.
	urgent *offload
}

// maxRotationKeys and maxReportKeys bound the nodes the rotation and report
// limiters track at once: more than a fleet has, so no node's bucket is
// ever pushed out.
const (
	maxRotationKeys = 1 << 20
	maxReportKeys   = 1 << 20
)

func newControl(c *core) *control {
	coalesce := c.cfg.MapCoalesce
	budget := newMapBudget(c.cfg.MapWriteBudget, offloadWorkers())
	c.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ward_map_budget_bytes", Help: "Bytes of map messages made and not yet written, as counted against the map budget (Config.MapWriteBudget)."},
			func() float64 { in, _, _ := budget.stats(); return float64(in) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ward_map_budget_peak_bytes", Help: "The most ward_map_budget_bytes has been."},
			func() float64 { _, peak, _ := budget.stats(); return float64(peak) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ward_map_budget_waiting", Help: "Map streams waiting for a turn of the map budget."},
			func() float64 { _, _, w := budget.stats(); return float64(w) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ward_map_wakes_skipped_total", Help: "Changes recorded in a map stream without waking it: only additions pending while its pace or budget turn will send them."},
			func() float64 { return float64(c.hub.wakesSkipped.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ward_map_budget_making", Help: "Turns of the map budget given whose message is not made yet."},
			func() float64 { return float64(budget.makingNow()) }))
	return &control{core: c, denied: newDeniedFlows(c.cfg.DeniedWindow),
		pace:      func(n int) time.Duration { return max(paceAfter(n), coalesce) },
		admit:     ratelimit.New[struct{}](c.cfg.MapAdmitEvery, c.cfg.MapAdmitBurst, 1),
		reopen:    ratelimit.New[store.NodeID](c.cfg.MapReopenEvery, c.cfg.MapReopenBurst, maxReportKeys),
		rotations: ratelimit.New[store.NodeID](c.cfg.RotateEvery, c.cfg.RotateBurst, maxRotationKeys),
		reports:   ratelimit.New[store.NodeID](c.cfg.ReportEvery, c.cfg.ReportBurst, maxReportKeys),
		updates:   ratelimit.New[store.NodeID](c.cfg.UpdateEvery, c.cfg.UpdateBurst, maxReportKeys),
		flows:     newFlowIngest(c.st, c.metrics.reg),
		downloads: newTargetSlots(c.cfg.MaxTargetDownloads), beats: newBeatBoard(),
		marks:      newOnlineMarks(),
		work:       newOffload(c.ctx, offloadWorkers()),
		budget:     budget,
		making:     newOffload(c.ctx, offloadWorkers()),
		urgent:     newOffload(c.ctx, offloadWorkers()),
		forwards:   ratelimit.New[wire.MachinePublic](minBeat, 1, maxReportKeys),
		watchLimit: ratelimit.New[store.NodeID](watchEvery, watchBurst, maxReportKeys)}
}

func (s *control) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.PathChallenge, s.handleChallenge)
	mux.HandleFunc("POST "+wire.PathSession, s.handleSession)
	mux.HandleFunc("POST "+wire.PathRegister, s.handleRegister)
	mux.HandleFunc("GET "+wire.PathMap, s.handleMap)
	mux.HandleFunc("POST "+wire.PathRotate, s.handleRotate)
	mux.HandleFunc("POST "+wire.PathReport, s.handleReport)
	mux.HandleFunc("POST "+wire.PathBeat, s.handleBeat)
	mux.HandleFunc("POST "+wire.PathFlows, s.handleFlows)
	mux.HandleFunc("GET "+wire.PathWatch, s.handleWatch)
	mux.HandleFunc("POST "+wire.PathWatchEvents, s.handleWatchEvents)
	mux.HandleFunc("POST "+wire.PathRequests, s.handleRequestCreate)
	mux.HandleFunc("GET "+wire.PathRequests, s.handleRequestList)
	mux.HandleFunc("GET "+wire.PathUpdate, s.handleUpdate)
	mux.HandleFunc("POST "+wire.PathUpdateReport, s.handleUpdateReport)
	mux.HandleFunc("GET "+wire.PathTUF+"metadata/{name}", s.handleTUFMetadata)
	mux.HandleFunc("GET "+wire.PathTUF+"targets/{path...}", s.handleTUFTarget)
}

func (s *control) handleChallenge(w http.ResponseWriter, r *http.Request) {
	var req wire.ChallengeRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.MachineKey.IsZero() {
		s.writeError(w, r, fmt.Errorf("%w: machine_key is required", errBadRequest))
		return
	}
	resp, err := s.sess.challenge(req.MachineKey, time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *control) handleSession(w http.ResponseWriter, r *http.Request) {
	var req wire.SessionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, exp, err := s.sess.open(r.Context(), req, time.Now())
	if err == nil {
		err = wire.CheckNodeVersion(req.ProtocolVersion)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, nerr := s.st.NodeByMachineKey(r.Context(), store.MachinePublic(req.MachineKey))
	resp := wire.SessionResponse{Token: tok, Expires: exp, Registered: nerr == nil,
		NeedsApproval: nerr == nil && !n.KeyRevokedAt.IsZero(), ServerTime: time.Now().UTC()}
	if wire.Supports(req.ProtocolVersion, wire.FeatureCoordinatorVersion) {
		resp.ProtocolVersion = wire.ProtocolVersion
	}
	writeJSON(w, http.StatusOK, resp)
}

func validateRegister(req *wire.RegisterRequest) error {
	switch {
	case req.AuthKey == "":
		return fmt.Errorf("%w: auth_key is required", errBadRequest)
	case req.WGKey.IsZero():
		return fmt.Errorf("%w: wg_key is required", errBadRequest)
	case len(req.Hostname) > 255 || len(req.OS) > 64 || len(req.Version) > 64:
		return fmt.Errorf("%w: hostname, os or version too long", errBadRequest)
	case len(req.ExposedPorts) > wire.MaxExposedPorts:
		return fmt.Errorf("%w: more than %d exposed ports", errBadRequest, wire.MaxExposedPorts)
	}
	return nil
}

func (s *control) handleRegister(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req wire.RegisterRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := validateRegister(&req); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now().UTC()
	src := remoteIP(r)
	res := s.regs.register(r.Context(), store.KeyRegistration{KeyHash: hashSecret(req.AuthKey), Now: now, Node: store.NewNode{
		Name: dnsname.Label(req.Hostname), Hostname: req.Hostname, OS: req.OS, Version: req.Version,
		MachineKey: store.MachinePublic(ss.machine), WGKey: store.WGPublic(req.WGKey),
		KeyExpiry: now.Add(s.cfg.KeyLifetime), ExposedPorts: req.ExposedPorts,
	}, Audit: func(n store.Node, key store.AuthKey) []store.AuditEvent {
		return registerAudits(n, key, now, src)
	}}, func(e store.AuditEvent) (store.AuditEvent, error) {
		err := s.audits.append(context.WithoutCancel(r.Context()), e)
		if err != nil {
			s.log.Error("audit append failed", "action", e.Action, "err", err)
		}
		return e, err
	})
	n, err := res.Node, res.Err
	if err != nil {
		if !store.Unavailable(err) { // a storage fault is not the caller's denial
			s.metrics.registrations.WithLabelValues("denied").Inc()
			actor, detail := "machine:"+ss.machine.String()[:17], map[string]any{"error": err.Error()}
			if errors.Is(err, store.ErrAuthKeyNotFound) {
				// Anyone can send a made-up key: such refusals are summed
				// per source.
				s.auditRefusal(r, actor, "node.register_denied", detail)
			} else {
				// A real key refused (revoked, expired, used, made before a
				// revocation, its maker disabled) always gets its own row:
				// the per-source limit bounds them, and they must not hide
				// in a stranger's sum.
				s.audit(r.Context(), actor, "node.register_denied", "", remoteIP(r), detail)
			}
		}
		s.writeError(w, r, err) // the node says "register node"
		return
	}
	s.metrics.registrations.WithLabelValues("ok").Inc()
	for _, e := range res.Audits {
		var tags []string
		if e.Action == "node.register" {
			tags = n.Tags
		}
		s.eventAlert(context.WithoutCancel(r.Context()), e.Actor, e.Action, e.Target, tags)
	}
	if _, err := s.reloadRegistered(r.Context(), n); err != nil {
		s.writeError(w, r, err)
		return
	}
	self, _ := s.nm.selfOf(n.ID)
	writeJSON(w, http.StatusOK, wire.RegisterResponse{Node: self})
}

// registerAudits are the audit events of node n's registration with
// key, as of now, from source src: the key's use and the node's
// registration, written in the registration's transaction.
func registerAudits(n store.Node, key store.AuthKey, now time.Time, src string) []store.AuditEvent {
	use, _ := json.Marshal(map[string]any{"key_prefix": key.Prefix, "use_count": key.UseCount})
	reg, _ := json.Marshal(map[string]any{"id": n.ID, "tags": n.Tags, "ipv4": n.IPv4, "ipv6": n.IPv6, "os": n.OS,
		"version": n.Version, "rekeyed_after_revocation": n.CreatedAt.Before(now.Truncate(time.Microsecond))})
	at := time.Now().UTC()
	target := fmt.Sprintf("node:%s", n.Name)
	return []store.AuditEvent{
		{Time: at, Actor: fmt.Sprintf("authkey:%d", key.ID), Action: "authkey.use", Target: target, Source: src, Detail: use},
		{Time: at, Actor: target, Action: "node.register", Target: target, Source: src, Detail: reg},
	}
}

// remoteIP is r's client address (see ClientAddr) for the audit log and
// for people; r.RemoteAddr as it is when that does not parse.
func remoteIP(r *http.Request) string {
	if a := ClientAddr(r); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

func (s *control) handleRotate(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The body first: the checks below must see the node as it is when
	// the key is written, not as it was when a slow request began.
	var req wire.RotateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.WGKey.IsZero() {
		s.writeError(w, r, fmt.Errorf("%w: wg_key is required", errBadRequest))
		return
	}
	n, err := s.nodeOfSession(r, ss)
	if errors.Is(err, errNotNode) {
		// Anyone can make a machine key: such refusals are summed per
		// source, not written one row each.
		err = fmt.Errorf("%w (removed?)", err)
		s.auditRefusal(r, "machine:"+ss.machine.String()[:17], "node.rotate_refused", map[string]any{"reason": err.Error()})
		s.writeError(w, r, err)
		return
	}
	if err == nil {
		err = s.rotateLimited(n.ID, time.Now())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := mayRotate(n); err != nil {
		s.refuseRotate(w, r, "node:"+n.Name, "node:"+n.Name, err)
		return
	}
	s.rotate(w, r, n, store.WGPublic(req.WGKey))
}

// rotate installs key as n's new WireGuard key. The store checks again,
// in the write's transaction, that n may rotate (RotateDevice), so an
// admin's revocation landing meanwhile wins.
func (s *control) rotate(w http.ResponseWriter, r *http.Request, n store.Node, key store.WGPublic) {
	now := time.Now().UTC()
	if key == n.WGKey && !expired(n, now) {
		// A node resending a rotation it already made (it crashed before
		// saving the answer): the key is in place, so say so again.
		writeJSON(w, http.StatusOK, wire.NewRotateResponse(now, 0, n.KeyExpiry))
		return
	}
	exp := now.Add(s.cfg.KeyLifetime)
	// The node switches at switchAt, and its peers keep the replaced key
	// until then (wire.Node.KeySwitchAt), never past that key's own
	// expiry: a lapsed key is not given back to the peers.
	switchAt := now.Add(s.cfg.KeySwitchDelay)
	overlap := switchAt
	if !n.KeyExpiry.IsZero() && n.KeyExpiry.Before(overlap) {
		overlap = time.Time{}
	}
	err := s.st.RotateWGKey(r.Context(), n.ID, store.KeyRotation{Key: key,
		OverlapUntil: overlap, Expiry: exp, Rule: store.RotateDevice})
	if errors.Is(err, store.ErrRotationRefused) {
		s.refuseRotate(w, r, "node:"+n.Name, "node:"+n.Name, fmt.Errorf("rotate key of %s: %w", n.Name, err))
		return
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("rotate key of %s: %w", n.Name, err))
		return
	}
	if _, err := s.reloadNode(r.Context(), n.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), "node:"+n.Name, "node.key_rotate", "node:"+n.Name, remoteIP(r),
		map[string]any{"new_key": wire.WGPublic(key).ShortString(), "expiry": exp})
	// The switch time the peers were given, as a wait from this answer.
	answered := time.Now().UTC()
	writeJSON(w, http.StatusOK, wire.NewRotateResponse(answered, switchAt.Sub(answered), exp))
}

func (s *control) handleReport(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil {
		err = s.reportLimited(n.ID, time.Now())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var rep wire.Report
	if err := s.decodeJSON(w, r, &rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(rep.Endpoints) > wire.MaxEndpoints || len(rep.DeniedFlows) > wire.MaxDeniedPerReport || len(rep.ExposedPorts) > wire.MaxExposedPorts {
		s.writeError(w, r, fmt.Errorf("%w: too many endpoints, denied flows or exposed ports", errBadRequest))
		return
	}
	if rep.HomeRelay != "" && rep.HomeRelay != ownRelayName && !relayNameRE.MatchString(rep.HomeRelay) {
		s.writeError(w, r, fmt.Errorf("%w: home relay %q is not a relay name", errBadRequest, rep.HomeRelay))
		return
	}
	if rep.Paths != nil {
		if err := checkPaths(rep.Paths); err != nil {
			s.writeError(w, r, fmt.Errorf("path report of %s: %w", n.Name, err))
			return
		}
	}
	if err := checkDenied(n, rep.DeniedFlows); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(rep.ExposedPorts) > 0 && !slices.Equal(rep.ExposedPorts, n.ExposedPorts) {
		if err := s.st.SetExposedPorts(r.Context(), n.ID, rep.ExposedPorts); err != nil {
			s.writeError(w, r, fmt.Errorf("set exposed ports of %s: %w", n.Name, err))
			return
		}
		if _, err := s.reloadNode(r.Context(), n.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.setAdvertised(r.Context(), n, rep.AdvertisedRoutes); err != nil {
		s.writeError(w, r, err)
		return
	}
	if rep.Endpoints != nil && !slices.Equal(rep.Endpoints, n.Endpoints) {
		if err := s.setEndpoints(r.Context(), n, rep.Endpoints); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// A relay removed since the node's map was written is not an error:
	// the node picks another home from its next map. The home is kept in
	// the store, so that every coordinator of a database tells the peers.
	if rep.HomeRelay != "" && rep.HomeRelay != n.HomeRelay && s.relays.has(rep.HomeRelay) {
		if err := s.setHomeRelay(r.Context(), n, rep.HomeRelay); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.recordDenied(n, rep.DeniedFlows)
	if rep.Paths != nil {
		s.paths.put(n.ID, onlyPeers(*rep.Paths, s.nm.livePeersOf(n.ID)), time.Now().UTC())
	}
	w.WriteHeader(http.StatusNoContent)
}

// setHomeRelay records relay as node n's home and tells its peers.
func (s *control) setHomeRelay(ctx context.Context, n store.Node, relay string) error {
	if err := s.st.SetHomeRelay(ctx, n.ID, relay); err != nil {
		return fmt.Errorf("set home relay of %s: %w", n.Name, err)
	}
	_, err := s.reloadNode(ctx, n.ID)
	return err
}

// reportLimited takes one of node id's report tokens, or says when the
// next one comes. It runs before the report's body is read, so a node
// past its limit costs no store write, no map push and no denied-flow
// count.
func (s *control) reportLimited(id store.NodeID, now time.Time) error {
	return s.nodeLimited(s.reports, "report", "reports from this node", id, now)
}

// nodeLimited takes one of node id's tokens of lim, or says when the
// next one comes, counting the refusal under class.
func (s *control) nodeLimited(lim *ratelimit.Keyed[store.NodeID], class, what string, id store.NodeID, now time.Time) error {
	if ok, after := lim.Allow(id, now); !ok {
		s.limits.refused.WithLabelValues(class).Inc()
		return &retryAfterError{what: what, after: after}
	}
	return nil
}

func (s *control) setEndpoints(ctx context.Context, n store.Node, eps []netip.AddrPort) error {
	for _, e := range eps {
		if !e.IsValid() || e.Port() == 0 {
			return fmt.Errorf("%w: bad endpoint %v", errBadRequest, e)
		}
	}
	if err := s.st.SetEndpoints(ctx, n.ID, eps); err != nil {
		return fmt.Errorf("set endpoints of %s: %w", n.Name, err)
	}
	_, err := s.reloadNode(ctx, n.ID)
	return err
}
