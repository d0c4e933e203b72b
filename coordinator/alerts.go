package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
)

// maxDeniedIdentities bounds the identities whose denied flows the
// alerter counts; past it, the new ones are not counted.
const maxDeniedIdentities = 4096

// deniedHit is one denied flow record's attempts at a time.
type deniedHit struct {
	at    time.Time
	count int
}

// alerter evaluates the alert rules (Config.AlertRules): devices offline
// longer than a rule's "for", identities with "count" denied flows within
// "within", device keys expiring within "within". Each such condition
// sends one alert when it starts and one recovery when it ends. Event
// rules (a device joined, a policy change, an admin login) send one alert
// per event and no recovery. Alerts go to the rule's destinations and are
// audited (alert.fire, alert.resolve) and stored (store.Alerts): a
// restarted coordinator loads what was open, so it neither alerts again
// for a condition still open nor forgets its recovery. Alerts reach their
// destinations through the dispatcher, which groups, repeats and
// inhibits them (alert.Dispatcher); flushAlerts sends what it says is
// due. The rules can be replaced while running (setRules).
type alerter struct {
	// rules are the rules in force; never nil. version is their stored
	// version (0: the configuration's).
	rules   atomic.Pointer[alert.Rules]
	version atomic.Int64
	send    *alert.Sender
	// started is when the alerter was made: a device counts as seen then
	// at the latest, so a coordinator back from a long stop does not page
	// for every device before they reconnect.
	started time.Time

	mu sync.Mutex // mu guards the following
	// firing holds the open alerts by rule and subject.
	firing map[[2]string]alert.Alert
	// denied holds each identity's denied attempts inside the longest
	// "within" of the rules.
	denied map[string][]deniedHit
	// disp groups the alerts into notifications.
	disp *alert.Dispatcher
}

// noRules are the rules of a coordinator given none: nothing fires.
var noRules = func() *alert.Rules {
	rs, err := alert.Parse("no-alert-rules", []byte("{}"))
	if err != nil {
		panic(err)
	}
	return rs
}()

// newAlerter returns the alerter of rules (nil: none yet).
func newAlerter(rules *alert.Rules, dead func(alert.Alert, alert.Destination, error), cfg *Config) *alerter {
	if rules == nil {
		rules = noRules
	}
	a := &alerter{started: time.Now(), firing: map[[2]string]alert.Alert{}, denied: map[string][]deniedHit{},
		disp: alert.NewDispatcher(rules.Inhibit),
		send: alert.NewSender(alert.SenderConfig{Backoff: cfg.AlertBackoff, DeadLetter: dead, Logger: cfg.Logger})}
	a.rules.Store(rules)
	return a
}

// ruleSet returns the rules in force.
func (a *alerter) ruleSet() *alert.Rules { return a.rules.Load() }

// setRules puts rs in force: the open alerts of rules rs keeps stay open
// (regrouped by rs's routes); those of rules rs dropped are resolved in
// the store, without a notice (their condition is no longer watched).
func (s *core) setRules(ctx context.Context, rs *alert.Rules, now time.Time) {
	a := s.alerts
	a.mu.Lock()
	a.rules.Store(rs)
	var gone [][2]string
	a.disp, gone = a.disp.Reroute(rs, now)
	for k := range a.firing {
		if !slices.ContainsFunc(rs.Rules, func(r alert.Rule) bool { return r.Name == k[0] }) {
			delete(a.firing, k)
			gone = append(gone, k)
		}
	}
	a.mu.Unlock()
	for _, k := range slices.Compact(gone) {
		if _, err := s.st.ResolveAlert(ctx, k[0], k[1], "the rule was removed", now.UTC()); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("resolve the alert of a removed rule", "rule", k[0], "subject", k[1], "err", err)
		}
	}
	s.flushAlerts(ctx, now)
}

// nodePresence is what the offline rules look at of a node.
type nodePresence struct {
	name     string
	tags     []string
	online   bool
	lastSeen time.Time
	// keyExpiry is when the node's key expires; zero: never.
	keyExpiry time.Time
}

// presence returns every node's presence.
func (m *netmap) presence() []nodePresence {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]nodePresence, 0, len(m.nodes))
	for id, n := range m.nodes {
		out = append(out, nodePresence{name: n.Name, tags: n.Tags, online: m.online[id], lastSeen: n.LastSeen, keyExpiry: n.KeyExpiry})
	}
	return out
}

// alertLoop evaluates the rules every AlertEvery until ctx is done.
func (s *core) alertLoop(ctx context.Context) {
	if s.alerts == nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.alerts.send.Run(ctx) })
	s.loadOpenAlerts(ctx)
	t := time.NewTicker(s.cfg.AlertEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.followAlertRules(ctx, now)
			s.followAcks(ctx)
			var nodes []nodePresence
			if watchesPresence(s.alerts.ruleSet()) {
				nodes = s.offlineWatch(ctx) // a walk of the fleet: only for rules that read it
			}
			s.evalAlerts(ctx, nodes, now)
			// Flush at the clock, not the tick: what evalAlerts just
			// fired was added later than the tick and would otherwise
			// wait a whole AlertEvery more.
			s.flushAlerts(ctx, time.Now())
		}
	}
}

// offlineWatch returns the presence the offline rules look at: none when
// another coordinator on the database runs them; the store's (each node's
// online flag as the coordinator holding its stream wrote it) on a shared
// PostgreSQL database, where the netmap knows only this coordinator's
// streams; else the netmap's.
func (s *core) offlineWatch(ctx context.Context) []nodePresence {
	if !s.runsJob(jobOfflineAlerts) {
		return nil
	}
	if s.cfg.DB == "" {
		return s.nm.presence()
	}
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("read presence for the offline alerts", "err", err)
		}
		return nil
	}
	out := make([]nodePresence, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodePresence{name: n.Name, tags: n.Tags, online: n.Online, lastSeen: n.LastSeen, keyExpiry: n.KeyExpiry})
	}
	return out
}

// evalAlerts fires and resolves what the rules say as of now.
func (s *core) evalAlerts(ctx context.Context, nodes []nodePresence, now time.Time) {
	for _, r := range s.alerts.ruleSet().Rules {
		switch r.Kind {
		case alert.KindOffline:
			for _, n := range nodes {
				if tagged(r, n.tags) {
					s.offline(ctx, r, n, now)
				}
			}
		case alert.KindKeyExpiring:
			s.keysExpiring(ctx, r, nodes, now)
		case alert.KindDenied:
			s.deniedQuiet(ctx, r, now)
		}
	}
}

// watchesPresence reports whether rules has a rule that reads the
// nodes' presence (offline, keys expiring): without one the loop does not
// walk the fleet (at 50,000 nodes, under the netmap's lock, every
// AlertEvery).
func watchesPresence(rules *alert.Rules) bool {
	return rules != nil && slices.ContainsFunc(rules.Rules, func(r alert.Rule) bool {
		return r.Kind == alert.KindOffline || r.Kind == alert.KindKeyExpiring
	})
}

// tagged reports whether a node with tags is one r looks at: r names no
// tag, or one of them.
func tagged(r alert.Rule, tags []string) bool {
	return len(r.Tags) == 0 || slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(r.Tags, t) })
}

// keysExpiring fires r for each node whose key expires within r.Within,
// and resolves it when the key was renewed or the node is gone. nodes is
// nil when another coordinator runs the presence rules: nothing changes.
func (s *core) keysExpiring(ctx context.Context, r alert.Rule, nodes []nodePresence, now time.Time) {
	if nodes == nil {
		return
	}
	soon := map[string]bool{}
	for _, n := range nodes {
		if n.keyExpiry.IsZero() || !tagged(r, n.tags) || n.keyExpiry.Sub(now) > r.Within {
			continue
		}
		subject := "node:" + n.name
		soon[subject] = true
		verb := "expires"
		if !n.keyExpiry.After(now) {
			verb = "expired"
		}
		s.fire(ctx, r, subject, now, fmt.Sprintf("%s's key %s at %s (warning %s ahead)", n.name, verb,
			n.keyExpiry.UTC().Format(time.RFC3339), r.Within), n.tags)
	}
	for _, subject := range s.alerts.open(r.Name) {
		if !soon[subject] {
			s.resolve(ctx, r, subject, now, fmt.Sprintf("%s's key renewed or the device removed", strings.TrimPrefix(subject, "node:")))
		}
	}
}

// open returns the subjects of rule's open alerts.
func (a *alerter) open(rule string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k := range a.firing {
		if k[0] == rule {
			out = append(out, k[1])
		}
	}
	return out
}

// eventAlert fires the event rules an audited action matches: a device
// joined (node.register), a policy change (the policy, a device's tags or
// risk class, an API key), an admin login. Event alerts carry no
// recovery and are not kept open.
func (s *core) eventAlert(ctx context.Context, actor, action, target string, tags []string) {
	if s.alerts == nil {
		return
	}
	kind, summary := eventKind(actor, action, target)
	if kind == "" {
		return
	}
	s.fireEvent(ctx, kind, target, summary, tags, kind == alert.KindJoined)
}

// fireEvent sends one alert for each rule of kind (when byTags, each rule
// of kind that tagged says looks at a subject with tags), stored as an
// event without recovery.
func (s *core) fireEvent(ctx context.Context, kind, subject, summary string, tags []string, byTags bool) {
	if s.alerts == nil {
		return
	}
	now := time.Now().UTC()
	for _, r := range s.alerts.ruleSet().Rules {
		if r.Kind != kind || (byTags && !tagged(r, tags)) {
			continue
		}
		s.addEvent(ctx, r, subject, summary, tags, now)
	}
	s.flushAlerts(ctx, now)
}

// addEvent puts one event alert of r in the dispatcher, stored as an
// event without recovery and audited; flushAlerts sends it.
func (s *core) addEvent(ctx context.Context, r alert.Rule, subject, summary string, tags []string, now time.Time) {
	a := alert.Alert{Rule: r.Name, Kind: r.Kind, Severity: s.subjectSeverity(ctx, r.Severity, subject), State: alert.StateFiring, Subject: subject,
		Summary: summary, StartsAt: now, Tags: tags}
	id := s.recordAlert(ctx, a, store.AlertEvent)
	s.alerts.mu.Lock()
	s.alerts.disp.Add(r, a, id, time.Time{}, now)
	s.alerts.mu.Unlock()
	s.auditAlert(ctx, a, "alert.fire")
}

// eventKind maps an audited action to the event rule kind it fires, and
// the alert's summary; "" for none.
func eventKind(actor, action, target string) (kind, summary string) {
	switch action {
	case "node.register":
		return alert.KindJoined, fmt.Sprintf("%s joined the fleet (%s)", strings.TrimPrefix(target, "node:"), actor)
	case "policy.save", "policy.set", "node.tags", "node.classify", "apikey.create", "apikey.revoke", "alerts.save":
		return alert.KindPolicyChange, fmt.Sprintf("%s by %s on %s", action, actor, target)
	case "admin.login":
		return alert.KindAdminLogin, fmt.Sprintf("%s logged in to the admin UI", actor)
	}
	return "", ""
}

// offline fires r for n once it has been offline longer than r.For, and
// resolves it when n is back.
func (s *core) offline(ctx context.Context, r alert.Rule, n nodePresence, now time.Time) {
	subject := "node:" + n.name
	seen := n.lastSeen
	if seen.Before(s.alerts.started) {
		seen = s.alerts.started
	}
	down := !n.online && now.Sub(seen) > r.For
	switch {
	case down:
		s.fire(ctx, r, subject, seen, fmt.Sprintf("%s offline since %s (longer than %s)", n.name, seen.UTC().Format(time.RFC3339), r.For), n.tags)
	case n.online:
		s.resolve(ctx, r, subject, now, fmt.Sprintf("%s back online", n.name))
	}
}

// noteDenied counts a denied flow record's attempts from who at at, and
// fires the denied rules it takes over their threshold.
func (s *core) noteDenied(ctx context.Context, who string, count int, at time.Time) {
	if s.alerts == nil {
		return
	}
	a := s.alerts
	a.mu.Lock()
	if _, ok := a.denied[who]; !ok && len(a.denied) >= maxDeniedIdentities {
		a.mu.Unlock()
		return
	}
	a.denied[who] = append(a.denied[who], deniedHit{at: at, count: count})
	a.mu.Unlock()
	for _, r := range a.ruleSet().Rules {
		if r.Kind != alert.KindDenied {
			continue
		}
		if n := a.deniedWithin(who, at, r.Within); n >= r.Count {
			s.fire(ctx, r, who, at, fmt.Sprintf("%d denied flows from %s within %s (threshold %d)", n, who, r.Within, r.Count), nil)
		}
	}
	s.flushAlerts(ctx, time.Now())
}

// deniedWithin sums who's attempts in (now-within, now], forgetting those
// older than every rule's window.
func (a *alerter) deniedWithin(who string, now time.Time, within time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := time.Duration(0)
	for _, r := range a.ruleSet().Rules {
		keep = max(keep, r.Within)
	}
	hits := slices.DeleteFunc(a.denied[who], func(h deniedHit) bool { return now.Sub(h.at) > keep })
	if len(hits) == 0 {
		delete(a.denied, who)
		return 0
	}
	a.denied[who] = hits
	n := 0
	for _, h := range hits {
		if now.Sub(h.at) <= within {
			n += h.count
		}
	}
	return n
}

// deniedQuiet resolves r's alerts whose identity fell below the threshold.
func (s *core) deniedQuiet(ctx context.Context, r alert.Rule, now time.Time) {
	for _, who := range s.alerts.open(r.Name) {
		if n := s.alerts.deniedWithin(who, now, r.Within); n < r.Count {
			s.resolve(ctx, r, who, now, fmt.Sprintf("%d denied flows from %s within %s, below %d", n, who, r.Within, r.Count))
		}
	}
}

// loadOpenAlerts takes the open alerts of the store as firing, for the
// rules that still exist.
func (s *core) loadOpenAlerts(ctx context.Context) {
	open, err := s.st.ListAlerts(ctx, []store.AlertState{store.AlertFiring, store.AlertAcknowledged}, 0)
	if err != nil {
		s.log.Error("load the open alerts", "err", err)
		return
	}
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	now := time.Now()
	rules := s.alerts.ruleSet().Rules
	for _, a := range open {
		i := slices.IndexFunc(rules, func(r alert.Rule) bool { return r.Name == a.Rule })
		if i < 0 {
			continue
		}
		al := alert.Alert{Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, State: alert.StateFiring, Subject: a.Subject,
			Summary: a.Summary, StartsAt: a.StartsAt.UTC(), Tags: a.Tags}
		s.alerts.firing[[2]string{a.Rule, a.Subject}] = al
		s.alerts.disp.Add(rules[i], al, int64(a.ID), a.NotifiedAt, now)
		if a.Acknowledged() {
			s.alerts.disp.Acknowledge(int64(a.ID))
		}
	}
}

// followAcks takes the acknowledgements made on any coordinator (the
// store's acknowledged alerts) into the dispatcher, so an acknowledged
// alert is not repeated. AckAlert tells this coordinator's dispatcher at
// once; this reaches the one an acknowledgement did not go through.
func (s *core) followAcks(ctx context.Context) {
	acked, err := s.st.ListAlerts(ctx, []store.AlertState{store.AlertAcknowledged}, 0)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("read the acknowledged alerts", "err", err)
		}
		return
	}
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	for _, a := range acked {
		s.alerts.disp.Acknowledge(int64(a.ID))
	}
}

// alertAcknowledged tells the dispatcher that the alert stored as id was
// acknowledged: it is not repeated any more.
func (s *core) alertAcknowledged(id int64) {
	if s.alerts == nil {
		return
	}
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	s.alerts.disp.Acknowledge(id)
}

// fire opens r's alert for subject (a device with tags) unless it is
// already open; the dispatcher sends it (flushAlerts).
func (s *core) fire(ctx context.Context, r alert.Rule, subject string, since time.Time, summary string, tags []string) {
	a := alert.Alert{Rule: r.Name, Kind: r.Kind, Severity: s.subjectSeverity(ctx, r.Severity, subject), State: alert.StateFiring, Subject: subject,
		Summary: summary, StartsAt: since.UTC(), Tags: tags}
	k := [2]string{r.Name, subject}
	s.alerts.mu.Lock()
	_, open := s.alerts.firing[k]
	if !open {
		s.alerts.firing[k] = a
		s.alerts.disp.Add(r, a, 0, time.Time{}, time.Now())
	}
	s.alerts.mu.Unlock()
	if open {
		return
	}
	id := s.recordAlert(ctx, a, store.AlertFiring)
	s.alerts.mu.Lock()
	missed := s.alerts.disp.SetID(r.Name, subject, id)
	s.alerts.mu.Unlock()
	if !missed.NotifiedAt.IsZero() || missed.Inhibited {
		s.noteAlerts(ctx, []alert.Change{missed})
	}
	s.auditAlert(ctx, a, "alert.fire")
}

// subjectSeverity is the stricter of a rule's severity sev and the
// alertSeverity of the risk class of the device subject names
// ("node:NAME", or a denied-flows identity "node:NAME (owner)"); sev for
// any other subject.
func (s *core) subjectSeverity(ctx context.Context, sev, subject string) string {
	name, ok := strings.CutPrefix(subject, "node:")
	if !ok {
		return sev
	}
	name, _, _ = strings.Cut(name, " ")
	return alert.Stricter(sev, s.deviceSeverity(ctx, name))
}

// deviceSeverity is the alertSeverity of the risk class of device name
// under the running policy; empty when its class sets none or the device
// is unknown. A device the netmap does not hold yet (its join is audited
// before it is loaded) is read from the store.
func (s *core) deviceSeverity(ctx context.Context, name string) string {
	class, ok := s.nm.riskClassOf(name)
	if !ok {
		n, err := s.st.NodeByName(ctx, name)
		if err != nil {
			return ""
		}
		class = n.RiskClass
	}
	return s.nm.classSeverity(class)
}

// riskClassOf is the stored risk class of node name; ok is false when
// the netmap does not hold it.
func (m *netmap) riskClassOf(name string) (class string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[name]
	return m.nodes[id].RiskClass, ok
}

// classSeverity is the alertSeverity of the risk class a device of
// stored class class is in under the running policy (an unknown or
// empty class is the least critical one); empty when it sets none.
func (m *netmap) classSeverity(class string) string {
	rs := m.ruleset()
	if rs == nil {
		return ""
	}
	rc, _ := rs.RiskClass(rs.RiskOf(class))
	return rc.AlertSeverity
}

// requestAlert fires the access_request rules for an event of request r
// ("requested", "approved", "denied", "revoked") by actor, when the risk
// class of its device sets an alertSeverity; the alert's severity is
// then the stricter of the rule's and the class's.
func (s *core) requestAlert(ctx context.Context, event string, r store.AccessRequest, actor string) {
	if s.alerts == nil {
		return
	}
	dev, ok := s.nm.node(r.NodeID)
	if !ok || s.nm.classSeverity(dev.RiskClass) == "" {
		return
	}
	summary := fmt.Sprintf("access request %d (%s to %s:%d/%s for %s, %q) %s by %s", r.ID, s.nm.emailOf(r.UserID), dev.Name, r.Port,
		filter.Proto(r.Proto).Name(), r.Duration, r.Reason, event, actor)
	s.fireEvent(ctx, alert.KindAccessRequest, "node:"+dev.Name, summary, dev.Tags, true)
}

// recordAlert records a new alert in the store and returns its ID (0 on
// a failure, which is logged: the alert is sent all the same).
func (s *core) recordAlert(ctx context.Context, a alert.Alert, state store.AlertState) int64 {
	rec, err := s.st.AddAlert(ctx, store.AlertRecord{Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Subject: a.Subject,
		Summary: a.Summary, State: state, StartsAt: a.StartsAt, Tags: a.Tags})
	if err != nil {
		s.log.Error("store an alert", "rule", a.Rule, "subject", a.Subject, "err", err)
	}
	return int64(rec.ID)
}

// flushAlerts sends the notifications the dispatcher says are due at now
// and records which alerts went out or are inhibited. The sends are
// queued under the lock, so notifications leave in the order decided.
func (s *core) flushAlerts(ctx context.Context, now time.Time) {
	a := s.alerts
	if a == nil {
		return
	}
	a.mu.Lock()
	ns, changes := a.disp.Flush(now)
	dests := a.ruleSet().Destinations
	for _, n := range ns {
		body := n.Body()
		for _, to := range n.To {
			a.send.Send(body, dests[to])
		}
	}
	a.mu.Unlock()
	s.noteAlerts(ctx, changes)
}

// noteAlerts stores what changed of alerts' notification and inhibition.
func (s *core) noteAlerts(ctx context.Context, changes []alert.Change) {
	for _, c := range changes {
		if c.ID == 0 {
			continue
		}
		if err := s.st.NoteAlert(ctx, store.AlertID(c.ID), c.NotifiedAt, c.Inhibited); err != nil && ctx.Err() == nil {
			s.log.Error("store an alert's notification", "alert", c.ID, "err", err)
		}
	}
}

// resolve sends r's recovery for subject if its alert is open.
func (s *core) resolve(ctx context.Context, r alert.Rule, subject string, now time.Time, summary string) {
	s.alerts.mu.Lock()
	a, open := s.alerts.firing[[2]string{r.Name, subject}]
	delete(s.alerts.firing, [2]string{r.Name, subject})
	if open {
		a.State, a.Summary, a.EndsAt = alert.StateResolved, summary, now.UTC()
		s.alerts.disp.Resolve(a)
	}
	s.alerts.mu.Unlock()
	if open {
		if _, err := s.st.ResolveAlert(ctx, r.Name, subject, summary, a.EndsAt); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("store an alert's recovery", "rule", r.Name, "subject", subject, "err", err)
		}
		s.auditAlert(ctx, a, "alert.resolve")
	}
}

// auditAlert audits a as action (alert.fire, alert.resolve).
func (s *core) auditAlert(ctx context.Context, a alert.Alert, action string) {
	s.audit(ctx, "system", action, a.Subject, "", map[string]any{"rule": a.Rule, "severity": a.Severity, "summary": a.Summary})
}

// deadLetter audits an alert no attempt delivered.
func (s *core) deadLetter(a alert.Alert, w alert.Destination, err error) {
	s.audit(context.Background(), "system", "alert.dead_letter", a.Subject, "",
		map[string]any{"rule": a.Rule, "state": a.State, "destination": w.Name, "type": w.Type, "error": err.Error()})
}

// deniedIdentity names the source of a denied flow record for the denied
// rules: its node and owner, else its address.
func deniedIdentity(r store.FlowRecord) string {
	if r.SrcNode == "" {
		return "ip:" + r.Src.String()
	}
	return "node:" + r.SrcNode + " (" + r.SrcWho + ")"
}
