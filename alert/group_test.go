package alert

import (
	"strings"
	"testing"
	"time"
)

const groupedRules = `{
  "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}],
  "route": {"groupBy": ["rule"], "groupWait": "30s", "groupInterval": "1m", "repeatInterval": "1h"},
  "rules": [
    {"name": "offline", "kind": "device_offline", "for": "1m", "to": ["ops"]},
    {"name": "gateway offline", "kind": "device_offline", "for": "1m", "tags": ["tag:gateway"], "severity": "critical",
     "groupBy": ["subject"], "groupWait": "0s", "to": ["ops"]},
  ],
  "inhibit": [{"source": {"rule": "gateway offline"}, "target": {"rule": "offline"}, "equal": ["tags"]}],
}`

// TestAlertRulesRouteAndInhibitParse: the file's route is every rule's
// default, a rule's own keys override it, and the inhibit rules are read.
func TestAlertRulesRouteAndInhibitParse(t *testing.T) {
	rs, err := Parse("a.hujson", []byte(groupedRules))
	if err != nil {
		t.Fatal(err)
	}
	off, gw := rs.Rules[0], rs.Rules[1]
	if off.OwnRoute || off.Route.GroupWait != 30*time.Second || off.Route.RepeatInterval != time.Hour || off.Route.GroupBy[0] != "rule" {
		t.Errorf("offline route %+v own=%v", off.Route, off.OwnRoute)
	}
	if !gw.OwnRoute || gw.Route.GroupWait != 0 || gw.Route.GroupInterval != time.Minute || gw.Route.GroupBy[0] != "subject" {
		t.Errorf("gateway route %+v own=%v", gw.Route, gw.OwnRoute)
	}
	if len(rs.Inhibit) != 1 || rs.Inhibit[0].Source.Rule != "gateway offline" || rs.Inhibit[0].Equal[0] != "tags" {
		t.Errorf("inhibit %+v", rs.Inhibit)
	}
	plain, _ := Parse("a.hujson", []byte(goodRules))
	if r := plain.Rules[0].Route; r.GroupWait != 0 || r.RepeatInterval != DefaultRepeatInterval || strings.Join(r.GroupBy, ",") != "rule,subject" {
		t.Errorf("default route %+v", r)
	}
}

// TestAlertRulesRouteProblemsAtLineCol: route and inhibit mistakes are
// reported at their line and column.
func TestAlertRulesRouteProblemsAtLineCol(t *testing.T) {
	const hook = `"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/h", "secret": "0123456789abcdef"}],` + "\n"
	tests := []struct{ src, want string }{
		{"{" + hook + `"route": {"groupBy": ["colour"]}}`, `a.hujson:2:23: groupBy: label "colour"`},
		{"{" + hook + `"route": {"repeatInterval": "0s"}}`, `a.hujson:2:29: repeatInterval: "0s" is not a positive duration`},
		{"{" + hook + `"route": {"wait": "1s"}}`, `a.hujson:2:11: unknown route key "wait"`},
		{"{" + hook + `"rules": [{"name": "x", "kind": "device_joined", "groupWait": "soon", "to": ["ops"]}]}`, `a.hujson:2:63: groupWait: "soon"`},
		{"{" + hook + `"inhibit": [{"source": {"rule": "nope"}, "target": {}}]}`, `a.hujson:2:13: inhibit rule: no rule named "nope"`},
		{"{" + hook + `"inhibit": [{"target": {"kind": "device_offline"}, "equal": ["node"]}]}`, `a.hujson:2:13: an inhibit rule needs "source" and "target"`},
		{"{" + hook + `"inhibit": [{"source": {"colour": "red"}, "target": {}}]}`, `a.hujson:2:25: unknown source key "colour"`},
	}
	for _, tc := range tests {
		_, err := Parse("a.hujson", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestAlertDispatcherGroupsRepeatsInhibits walks a dispatcher through
// time: three devices going offline together are one notification after
// groupWait; nothing more until repeatInterval; the gateway's alert
// inhibits its site's devices; a recovery goes out only for an alert that
// was notified.
func TestAlertDispatcherGroupsRepeatsInhibits(t *testing.T) {
	rs, err := Parse("a.hujson", []byte(groupedRules))
	if err != nil {
		t.Fatal(err)
	}
	off, gw := rs.Rules[0], rs.Rules[1]
	d := NewDispatcher(rs.Inhibit)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	firing := func(r Rule, node string, tags ...string) Alert {
		return Alert{Rule: r.Name, Kind: r.Kind, Severity: r.Severity, State: StateFiring, Subject: "node:" + node, Tags: tags, StartsAt: t0}
	}
	flush := func(s int) []Notification {
		ns, _ := d.Flush(at(s))
		return ns
	}
	for i, n := range []string{"cam-1", "cam-2", "cam-3"} {
		d.Add(off, firing(off, n, "tag:site-a"), int64(i+1), time.Time{}, at(0))
	}
	if ns := flush(10); len(ns) != 0 {
		t.Fatalf("before groupWait: %+v", ns)
	}
	ns := flush(30)
	if len(ns) != 1 || len(ns[0].Alerts) != 3 || ns[0].Body().Subject != "3 alerts, 3 firing, 0 resolved" {
		t.Fatalf("after groupWait: %+v", ns)
	}
	if ns := flush(1800); len(ns) != 0 {
		t.Fatalf("before repeatInterval: %+v", ns)
	}
	if ns := flush(3630); len(ns) != 1 || len(ns[0].Alerts) != 3 {
		t.Fatalf("after repeatInterval: %+v", ns)
	}
	// cam-4 at site b, and the site-a gateway, go down.
	d.Add(off, firing(off, "cam-4", "tag:site-a"), 4, time.Time{}, at(3700))
	d.Add(gw, firing(gw, "gw-a", "tag:gateway", "tag:site-a"), 5, time.Time{}, at(3700))
	d.Add(off, firing(off, "cam-5", "tag:site-b"), 6, time.Time{}, at(3700))
	ns, changes := d.Flush(at(3700))
	if len(ns) != 2 || ns[0].Alerts[0].Subject != "node:cam-5" || len(ns[0].Alerts) != 1 || ns[1].Alerts[0].Subject != "node:gw-a" {
		t.Fatalf("with the gateway down: %+v", ns)
	}
	inhibited := map[int64]bool{}
	for _, c := range changes {
		if c.Inhibited {
			inhibited[c.ID] = true
		}
	}
	if len(inhibited) != 4 || inhibited[6] || inhibited[5] {
		t.Fatalf("inhibited %v (want cam-1..4)", inhibited)
	}
	// cam-4 (never notified) and cam-1 (notified) come back.
	d.Resolve(Alert{Rule: off.Name, Subject: "node:cam-4", State: StateResolved, Summary: "cam-4 back"})
	d.Resolve(Alert{Rule: off.Name, Subject: "node:cam-1", State: StateResolved, Summary: "cam-1 back"})
	// The group's notification lists its firing alerts with the recovery.
	ns = flush(3800)
	if len(ns) != 1 || len(ns[0].Alerts) != 2 || ns[0].Alerts[0].Summary != "cam-1 back" || ns[0].Alerts[1].Subject != "node:cam-5" {
		t.Fatalf("recoveries: %+v", ns)
	}
}

// TestAlertDispatcherAcknowledgedNotRepeated: an acknowledged alert leaves
// its group's repeats (the others in the group still repeat), a group
// whose firing alerts are all acknowledged repeats nothing, an
// acknowledged alert's recovery still goes out, and a rerouted
// dispatcher keeps the acknowledgement.
func TestAlertDispatcherAcknowledgedNotRepeated(t *testing.T) {
	rs, err := Parse("a.hujson", []byte(groupedRules))
	if err != nil {
		t.Fatal(err)
	}
	off := rs.Rules[0]
	d := NewDispatcher(rs.Inhibit)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	subjects := func(n Notification) string {
		var s []string
		for _, a := range n.Alerts {
			s = append(s, a.State+" "+a.Subject)
		}
		return strings.Join(s, ", ")
	}
	for i, n := range []string{"cam-1", "cam-2"} {
		d.Add(off, Alert{Rule: off.Name, Kind: off.Kind, State: StateFiring, Subject: "node:" + n, Tags: []string{"tag:site-a"}, StartsAt: t0},
			int64(i+1), time.Time{}, at(0))
	}
	if ns, _ := d.Flush(at(30)); len(ns) != 1 || subjects(ns[0]) != "firing node:cam-1, firing node:cam-2" {
		t.Fatalf("first notification: %+v", ns)
	}
	if !d.Acknowledge(1) || d.Acknowledge(99) || d.Acknowledge(0) {
		t.Fatal("Acknowledge: want true for a held alert only")
	}
	ns, changes := d.Flush(at(3630))
	if len(ns) != 1 || subjects(ns[0]) != "firing node:cam-2" {
		t.Fatalf("repeat after cam-1's acknowledgement: %+v; want cam-2 alone", ns)
	}
	for _, c := range changes {
		if c.ID == 1 {
			t.Errorf("the acknowledged alert was noted as notified again: %+v", c)
		}
	}
	d.Acknowledge(2)
	nd, gone := d.Reroute(rs, at(3700))
	if len(gone) != 0 {
		t.Fatalf("reroute lost %v", gone)
	}
	d = nd
	if ns, _ := d.Flush(at(7300)); len(ns) != 0 {
		t.Fatalf("a group of acknowledged alerts repeated: %+v", ns)
	}
	d.Resolve(Alert{Rule: off.Name, Subject: "node:cam-1", State: StateResolved, Summary: "cam-1 back"})
	if ns, _ := d.Flush(at(7400)); len(ns) != 1 || subjects(ns[0]) != "resolved node:cam-1" {
		t.Fatalf("recovery of an acknowledged alert: %+v; want it delivered", ns)
	}
}
