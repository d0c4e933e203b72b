package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
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
// for a condition still open nor forgets its recovery.
type alerter struct {
	rules *alert.Rules
	send  *alert.Sender
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
}

// newAlerter returns the alerter of rules (nil: none).
func newAlerter(rules *alert.Rules, dead func(alert.Alert, alert.Destination, error), cfg *Config) *alerter {
	if rules == nil {
		return nil
	}
	return &alerter{rules: rules, started: time.Now(), firing: map[[2]string]alert.Alert{}, denied: map[string][]deniedHit{},
		send: alert.NewSender(alert.SenderConfig{Backoff: cfg.AlertBackoff, DeadLetter: dead, Logger: cfg.Logger})}
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
			s.evalAlerts(ctx, s.offlineWatch(ctx), now)
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
	for _, r := range s.alerts.rules.Rules {
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
			n.keyExpiry.UTC().Format(time.RFC3339), r.Within))
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
	for _, r := range s.alerts.rules.Rules {
		if r.Kind != kind || (byTags && !tagged(r, tags)) {
			continue
		}
		a := alert.Alert{Rule: r.Name, Kind: r.Kind, Severity: r.Severity, State: alert.StateFiring, Subject: subject,
			Summary: summary, StartsAt: now}
		s.recordAlert(ctx, a, store.AlertEvent)
		s.notify(ctx, r, a, "alert.fire")
	}
}

// eventKind maps an audited action to the event rule kind it fires, and
// the alert's summary; "" for none.
func eventKind(actor, action, target string) (kind, summary string) {
	switch action {
	case "node.register":
		return alert.KindJoined, fmt.Sprintf("%s joined the fleet (%s)", strings.TrimPrefix(target, "node:"), actor)
	case "policy.save", "policy.set", "node.tags", "node.classify", "apikey.create", "apikey.revoke":
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
		s.fire(ctx, r, subject, seen, fmt.Sprintf("%s offline since %s (longer than %s)", n.name, seen.UTC().Format(time.RFC3339), r.For))
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
	for _, r := range a.rules.Rules {
		if r.Kind != alert.KindDenied {
			continue
		}
		if n := a.deniedWithin(who, at, r.Within); n >= r.Count {
			s.fire(ctx, r, who, at, fmt.Sprintf("%d denied flows from %s within %s (threshold %d)", n, who, r.Within, r.Count))
		}
	}
}

// deniedWithin sums who's attempts in (now-within, now], forgetting those
// older than every rule's window.
func (a *alerter) deniedWithin(who string, now time.Time, within time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := time.Duration(0)
	for _, r := range a.rules.Rules {
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
	for _, a := range open {
		if slices.ContainsFunc(s.alerts.rules.Rules, func(r alert.Rule) bool { return r.Name == a.Rule }) {
			s.alerts.firing[[2]string{a.Rule, a.Subject}] = alert.Alert{Rule: a.Rule, Kind: a.Kind, Severity: a.Severity,
				State: alert.StateFiring, Subject: a.Subject, Summary: a.Summary, StartsAt: a.StartsAt.UTC()}
		}
	}
}

// fire sends r's alert for subject unless it is already open.
func (s *core) fire(ctx context.Context, r alert.Rule, subject string, since time.Time, summary string) {
	a := alert.Alert{Rule: r.Name, Kind: r.Kind, Severity: r.Severity, State: alert.StateFiring, Subject: subject,
		Summary: summary, StartsAt: since.UTC()}
	s.alerts.mu.Lock()
	_, open := s.alerts.firing[[2]string{r.Name, subject}]
	if !open {
		s.alerts.firing[[2]string{r.Name, subject}] = a
	}
	s.alerts.mu.Unlock()
	if !open {
		s.recordAlert(ctx, a, store.AlertFiring)
		s.notify(ctx, r, a, "alert.fire")
	}
}

// recordAlert records a new alert in the store; a failure is logged, the alert
// is sent all the same.
func (s *core) recordAlert(ctx context.Context, a alert.Alert, state store.AlertState) {
	_, err := s.st.AddAlert(ctx, store.AlertRecord{Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Subject: a.Subject,
		Summary: a.Summary, State: state, StartsAt: a.StartsAt})
	if err != nil {
		s.log.Error("store an alert", "rule", a.Rule, "subject", a.Subject, "err", err)
	}
}

// resolve sends r's recovery for subject if its alert is open.
func (s *core) resolve(ctx context.Context, r alert.Rule, subject string, now time.Time, summary string) {
	s.alerts.mu.Lock()
	a, open := s.alerts.firing[[2]string{r.Name, subject}]
	delete(s.alerts.firing, [2]string{r.Name, subject})
	s.alerts.mu.Unlock()
	if open {
		a.State, a.Summary, a.EndsAt = alert.StateResolved, summary, now.UTC()
		if _, err := s.st.ResolveAlert(ctx, r.Name, subject, summary, a.EndsAt); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("store an alert's recovery", "rule", r.Name, "subject", subject, "err", err)
		}
		s.notify(ctx, r, a, "alert.resolve")
	}
}

// notify audits a as action and queues it for r's webhooks.
func (s *core) notify(ctx context.Context, r alert.Rule, a alert.Alert, action string) {
	s.audit(ctx, "system", action, a.Subject, "", map[string]any{"rule": r.Name, "severity": a.Severity, "summary": a.Summary})
	for _, to := range r.To {
		s.alerts.send.Send(a, s.alerts.rules.Destinations[to])
	}
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
