package alert

import (
	"slices"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// Labels an alert has, for "groupBy", an inhibit rule's "equal" and its
// matchers. "node" is the device of a "node:NAME" subject; "tags" are the
// device's tags when the alert fired (in "equal": sharing one tag is
// enough).
var labels = []string{"rule", "kind", "severity", "subject", "node", "tags"}

// Default route: one notification per alert, sent at once, repeated every
// four hours while it fires.
var (
	DefaultGroupBy        = []string{"rule", "subject"}
	DefaultRepeatInterval = 4 * time.Hour
)

// Route says how a rule's alerts are grouped into notifications, as
// Alertmanager's routes do: alerts with equal GroupBy labels (and the
// same destinations) form a group; a new group waits GroupWait so that
// alerts starting together go out in one notification, a changed group
// (an alert added or resolved) waits GroupInterval after its last
// notification, and a group still firing is notified again after
// RepeatInterval.
type Route struct {
	GroupBy                                  []string
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// routeSpec is a route as written: each field may be unset, to be
// inherited from the file's "route".
type routeSpec struct {
	groupBy                         []string
	groupBySet                      bool
	wait, interval, repeat          time.Duration
	waitSet, intervalSet, repeatSet bool
}

// set reports whether the spec sets anything.
func (r routeSpec) set() bool { return r.groupBySet || r.waitSet || r.intervalSet || r.repeatSet }

// over returns base with what r sets replaced.
func (r routeSpec) over(base Route) Route {
	if r.groupBySet {
		base.GroupBy = r.groupBy
	}
	if r.waitSet {
		base.GroupWait = r.wait
	}
	if r.intervalSet {
		base.GroupInterval = r.interval
	}
	if r.repeatSet {
		base.RepeatInterval = r.repeat
	}
	return base
}

// routeKeys are the keys routeKey reads, for messages.
const routeKeys = "groupBy, groupWait, groupInterval, repeatInterval"

// routeKey reads key into spec when it is a route key, and reports
// whether it was.
func (p *parser) routeKey(spec *routeSpec, key string, v *hujson.Value) bool {
	switch key {
	case "groupBy":
		spec.groupBy, spec.groupBySet = p.labelList(v, "groupBy"), true
	case "groupWait":
		spec.wait, spec.waitSet = p.durationOrZero(v, "groupWait"), true
	case "groupInterval":
		spec.interval, spec.intervalSet = p.durationOrZero(v, "groupInterval"), true
	case "repeatInterval":
		spec.repeat, spec.repeatSet = p.duration(v, "repeatInterval"), true
	default:
		return false
	}
	return true
}

// route parses the file's top-level "route".
func (p *parser) route(v *hujson.Value) {
	for _, m := range p.members(v, `"route"`) {
		if !p.routeKey(&p.top, name(&m), &m.Value) {
			p.errorf(m.Name.StartOffset, "unknown route key %q (known: %s)", name(&m), routeKeys)
		}
	}
}

// labelList reads a list of label names.
func (p *parser) labelList(v *hujson.Value, what string) []string {
	out := []string{}
	for _, e := range p.elements(v, what) {
		l := p.str(&e, what+" entry")
		if l != "" && !slices.Contains(labels, l) {
			p.errorf(e.StartOffset, "%s: label %q: known labels are %s", what, l, strings.Join(labels, ", "))
		}
		out = append(out, l)
	}
	return out
}

// durationOrZero is duration allowing "0s" (send at once).
func (p *parser) durationOrZero(v *hujson.Value, what string) time.Duration {
	if lit, ok := v.Value.(hujson.Literal); ok && lit.Kind() == '"' && lit.String() != "" {
		if d, err := time.ParseDuration(lit.String()); err == nil && d == 0 {
			return 0
		}
	}
	return p.duration(v, what)
}

// Inhibit mutes alerts: while an alert matching Source fires, alerts
// matching Target with the same Equal labels are not notified (they are
// stored, marked inhibited). An alert does not inhibit itself.
type Inhibit struct {
	Source, Target Matcher
	Equal          []string
}

// Matcher selects alerts; each field set must match, Tags by one tag in
// common.
type Matcher struct {
	Rule, Kind, Severity string
	Tags                 []string
}

// Matches reports whether m selects a.
func (m Matcher) Matches(a Alert) bool {
	return (m.Rule == "" || m.Rule == a.Rule) && (m.Kind == "" || m.Kind == a.Kind) &&
		(m.Severity == "" || m.Severity == a.Severity) && (len(m.Tags) == 0 || shareTag(m.Tags, a.Tags))
}

func shareTag(a, b []string) bool {
	return slices.ContainsFunc(a, func(t string) bool { return slices.Contains(b, t) })
}

// Label returns a's label l.
func (a Alert) Label(l string) string {
	switch l {
	case "rule":
		return a.Rule
	case "kind":
		return a.Kind
	case "severity":
		return a.Severity
	case "subject":
		return a.Subject
	case "node":
		if n, ok := strings.CutPrefix(a.Subject, "node:"); ok {
			n, _, _ = strings.Cut(n, " ")
			return n
		}
		return ""
	case "tags":
		t := slices.Clone(a.Tags)
		slices.Sort(t)
		return strings.Join(t, ",")
	}
	return ""
}

// equalOn reports whether a and b have the same labels ls ("tags": one
// tag in common).
func equalOn(a, b Alert, ls []string) bool {
	for _, l := range ls {
		if l == "tags" {
			if !shareTag(a.Tags, b.Tags) {
				return false
			}
			continue
		}
		if a.Label(l) != b.Label(l) {
			return false
		}
	}
	return true
}

// inhibitList parses the file's "inhibit" list.
func (p *parser) inhibitList(rs *Rules, v *hujson.Value) {
	for _, e := range p.elements(v, `"inhibit"`) {
		var in Inhibit
		var src, dst bool
		for _, m := range p.members(&e, "an inhibit rule") {
			switch k := name(&m); k {
			case "source":
				in.Source, src = p.matcher(&m.Value, "source"), true
			case "target":
				in.Target, dst = p.matcher(&m.Value, "target"), true
			case "equal":
				in.Equal = p.labelList(&m.Value, "equal")
			default:
				p.errorf(m.Name.StartOffset, "unknown inhibit key %q (known: source, target, equal)", k)
			}
		}
		if !src || !dst {
			p.errorf(e.StartOffset, "an inhibit rule needs \"source\" and \"target\"")
		}
		rs.Inhibit = append(rs.Inhibit, in)
		p.inhibitPos = append(p.inhibitPos, e.StartOffset)
	}
}

// matcher parses an inhibit rule's source or target.
func (p *parser) matcher(v *hujson.Value, what string) Matcher {
	var m Matcher
	for _, mm := range p.members(v, what) {
		val := &mm.Value
		switch k := name(&mm); k {
		case "rule":
			m.Rule = p.str(val, "rule")
		case "kind":
			m.Kind = p.str(val, "kind")
			if !slices.Contains(kinds, m.Kind) {
				p.errorf(val.StartOffset, "kind %q: known kinds are %s", m.Kind, strings.Join(kinds, ", "))
			}
		case "severity":
			m.Severity = p.str(val, "severity")
		case "tags":
			m.Tags = p.strs(val, "tags")
		default:
			p.errorf(mm.Name.StartOffset, "unknown %s key %q (known: rule, kind, severity, tags)", what, k)
		}
	}
	return m
}

// checkRoutes applies the file's route to each rule and checks the
// inhibit rules' rule names.
func (p *parser) checkRoutes(rs *Rules) {
	rs.Route = p.top.over(Route{GroupBy: DefaultGroupBy, RepeatInterval: DefaultRepeatInterval})
	for i := range rs.Rules {
		rs.Rules[i].Route = p.routes[i].over(rs.Route)
		rs.Rules[i].OwnRoute = p.routes[i].set()
	}
	known := func(n string) bool {
		return n == "" || slices.ContainsFunc(rs.Rules, func(r Rule) bool { return r.Name == n })
	}
	for i, in := range rs.Inhibit {
		for _, n := range []string{in.Source.Rule, in.Target.Rule} {
			if !known(n) {
				p.errorf(p.inhibitPos[i], "inhibit rule: no rule named %q", n)
			}
		}
	}
}
