package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Notification is one message to a group's destinations.
type Notification struct {
	// To names the destinations.
	To []string
	// Alerts are the group's firing alerts and the recoveries of those
	// notified before, in the order they joined the group.
	Alerts []Alert
}

// Body is what a destination receives: the alert itself when the
// notification carries one, else a summary whose Alerts lists them.
func (n Notification) Body() Alert {
	if len(n.Alerts) == 1 {
		return n.Alerts[0]
	}
	sum := Alert{State: StateResolved, Severity: "info", Alerts: n.Alerts}
	var rules, kinds []string
	firing := 0
	for _, a := range n.Alerts {
		if !slices.Contains(rules, a.Rule) {
			rules = append(rules, a.Rule)
		}
		if !slices.Contains(kinds, a.Kind) {
			kinds = append(kinds, a.Kind)
		}
		if a.State == StateFiring {
			sum.State = StateFiring
			firing++
		}
		if severityRank[a.Severity] > severityRank[sum.Severity] {
			sum.Severity = a.Severity
		}
		if sum.StartsAt.IsZero() || a.StartsAt.Before(sum.StartsAt) {
			sum.StartsAt = a.StartsAt
		}
	}
	sum.Rule, sum.Kind = strings.Join(rules, ", "), strings.Join(kinds, ", ")
	sum.Subject = fmt.Sprintf("%d alerts, %d firing, %d resolved", len(n.Alerts), firing, len(n.Alerts)-firing)
	parts := make([]string, len(n.Alerts))
	for i, a := range n.Alerts {
		parts[i] = a.Summary
	}
	sum.Summary = strings.Join(parts, "; ")
	return sum
}

var severityRank = map[string]int{"info": 0, "warning": 1, "critical": 2}

// Change is what a Flush changed of a stored alert: when it was last
// notified, and whether it is inhibited.
type Change struct {
	// ID is the stored alert's (as given to Add).
	ID         int64
	NotifiedAt time.Time
	Inhibited  bool
}

// entry is one alert in a group.
type entry struct {
	a  Alert
	id int64
	// event: notified once, never repeated nor recovered.
	event bool
	// notified is when the alert last went out firing; zero: never.
	notified time.Time
	// resolved: its recovery waits for the next notification.
	resolved  bool
	inhibited bool
	// acked: an admin acknowledged it; it is not repeated (its recovery
	// still goes out).
	acked bool
}

// group is the alerts of one group key.
type group struct {
	route   Route
	to      []string
	entries []*entry
	// created is when its first alert came; sent when it was last
	// notified (zero: never).
	created, sent time.Time
}

// Dispatcher groups, deduplicates, repeats and inhibits alerts as
// Alertmanager does, and says which notifications are due. It is not
// safe for concurrent use; it does no I/O.
type Dispatcher struct {
	inhibit []Inhibit
	groups  map[string]*group
	// order is the group keys by creation, so notifications come out in
	// a stable order.
	order []string
}

// NewDispatcher returns a Dispatcher applying inhibit.
func NewDispatcher(inhibit []Inhibit) *Dispatcher {
	return &Dispatcher{inhibit: inhibit, groups: map[string]*group{}}
}

// groupKey is the group r's alert a belongs to.
func groupKey(r Rule, a Alert) string {
	var b strings.Builder
	if r.OwnRoute {
		fmt.Fprintf(&b, "rule=%q;", r.Name)
	}
	fmt.Fprintf(&b, "to=%q;", r.To)
	for _, l := range r.Route.GroupBy {
		fmt.Fprintf(&b, "%s=%q;", l, a.Label(l))
	}
	return b.String()
}

// Add puts r's firing (or event) alert a, stored as id, in its group.
// notified is when it last went out (a restarted coordinator's alerts);
// zero for a new alert, which the next due notification carries.
func (d *Dispatcher) Add(r Rule, a Alert, id int64, notified, now time.Time) {
	k := groupKey(r, a)
	g := d.groups[k]
	if g == nil {
		g = &group{route: r.Route, to: r.To, created: now}
		d.groups[k] = g
		d.order = append(d.order, k)
	}
	if notified.After(g.sent) {
		g.sent = notified
	}
	g.entries = append(g.entries, &entry{a: a, id: id, event: Event(a.Kind), notified: notified})
}

// SetID records the store's ID of rule's open alert on subject, and
// returns what a Flush before it could not record: when it went out, and
// whether it is inhibited.
func (d *Dispatcher) SetID(rule, subject string, id int64) Change {
	e := d.find(rule, subject)
	if e == nil {
		return Change{}
	}
	e.id = id
	return Change{ID: id, NotifiedAt: e.notified, Inhibited: e.inhibited}
}

// Acknowledge marks the open alert stored as id acknowledged: repeats
// leave it out (a group whose firing alerts are all acknowledged repeats
// nothing), its recovery still goes out. It reports whether the
// dispatcher held that alert.
func (d *Dispatcher) Acknowledge(id int64) bool {
	if id == 0 {
		return false
	}
	for _, g := range d.groups {
		for _, e := range g.entries {
			if e.id == id && !e.event && !e.resolved {
				e.acked = true
				return true
			}
		}
	}
	return false
}

// find returns the open entry of rule and subject; nil when none.
func (d *Dispatcher) find(rule, subject string) *entry {
	for _, g := range d.groups {
		for _, e := range g.entries {
			if e.a.Rule == rule && e.a.Subject == subject && !e.event && !e.resolved {
				return e
			}
		}
	}
	return nil
}

// Resolve takes the recovery of an open alert (resolved, with its new
// summary and end). Its recovery goes out with the group's next
// notification if the alert was notified; else it is dropped quietly.
func (d *Dispatcher) Resolve(resolved Alert) {
	e := d.find(resolved.Rule, resolved.Subject)
	if e == nil {
		return
	}
	e.a, e.resolved = resolved, true
}

// Flush returns the notifications due at now, and what changed of the
// stored alerts (notified, inhibited).
func (d *Dispatcher) Flush(now time.Time) ([]Notification, []Change) {
	changes := d.inhibitAll()
	var out []Notification
	for _, k := range d.order {
		g := d.groups[k]
		n, sent := g.due(now)
		if sent {
			out = append(out, n)
			for _, e := range g.entries {
				if !e.resolved && !e.inhibited && !e.acked {
					e.notified = now
					changes = append(changes, Change{ID: e.id, NotifiedAt: now})
				}
			}
			g.sent = now
		}
		g.entries = slices.DeleteFunc(g.entries, func(e *entry) bool {
			return (e.resolved && (e.notified.IsZero() || sent)) || (e.event && (!e.notified.IsZero() || e.inhibited))
		})
		if len(g.entries) == 0 {
			delete(d.groups, k)
		}
	}
	d.order = slices.DeleteFunc(d.order, func(k string) bool { return d.groups[k] == nil })
	return out, changes
}

// inhibitAll marks each entry inhibited or not, and returns the changes.
func (d *Dispatcher) inhibitAll() []Change {
	var firing []*entry
	for _, g := range d.groups {
		for _, e := range g.entries {
			if !e.resolved {
				firing = append(firing, e)
			}
		}
	}
	var changes []Change
	for _, e := range firing {
		now := d.inhibited(e, firing)
		if now != e.inhibited {
			e.inhibited = now
			changes = append(changes, Change{ID: e.id, NotifiedAt: e.notified, Inhibited: now})
		}
	}
	return changes
}

// inhibited reports whether an inhibit rule mutes e while firing fire.
func (d *Dispatcher) inhibited(e *entry, firing []*entry) bool {
	for _, in := range d.inhibit {
		if !in.Target.Matches(e.a) {
			continue
		}
		for _, s := range firing {
			if s != e && in.Source.Matches(s.a) && equalOn(s.a, e.a, in.Equal) {
				return true
			}
		}
	}
	return false
}

// due returns g's notification if one is due at now: a new alert or a
// recovery after the group's wait (first notification) or interval
// (later ones), or the firing alerts again after the repeat interval.
func (g *group) due(now time.Time) (Notification, bool) {
	var alerts []Alert
	fresh := false
	for _, e := range g.entries {
		switch {
		case e.inhibited && !e.resolved:
		case e.acked && !e.resolved:
		case e.resolved && e.notified.IsZero():
		case e.resolved:
			alerts, fresh = append(alerts, e.a), true
		default:
			alerts = append(alerts, e.a)
			fresh = fresh || e.notified.IsZero()
		}
	}
	if len(alerts) == 0 {
		return Notification{}, false
	}
	var at time.Time
	switch {
	case fresh && g.sent.IsZero():
		at = g.created.Add(g.route.GroupWait)
	case fresh:
		at = g.sent.Add(g.route.GroupInterval)
	default:
		at = g.sent.Add(g.route.RepeatInterval)
	}
	if now.Before(at) {
		return Notification{}, false
	}
	return Notification{To: slices.Clone(g.to), Alerts: alerts}, true
}

// Reroute returns a dispatcher for new rules rs holding d's alerts whose
// rule rs still has (in the groups rs makes, keeping when each went out),
// and the rule and subject of the open alerts whose rule is gone.
func (d *Dispatcher) Reroute(rs *Rules, now time.Time) (*Dispatcher, [][2]string) {
	nd := NewDispatcher(rs.Inhibit)
	var gone [][2]string
	for _, k := range d.order {
		for _, e := range d.groups[k].entries {
			i := slices.IndexFunc(rs.Rules, func(r Rule) bool { return r.Name == e.a.Rule })
			if i < 0 {
				if !e.event && !e.resolved {
					gone = append(gone, [2]string{e.a.Rule, e.a.Subject})
				}
				continue
			}
			nd.Add(rs.Rules[i], e.a, e.id, e.notified, now)
			g := nd.groups[groupKey(rs.Rules[i], e.a)]
			ne := g.entries[len(g.entries)-1]
			ne.resolved, ne.inhibited, ne.acked = e.resolved, e.inhibited, e.acked
		}
	}
	return nd, gone
}
