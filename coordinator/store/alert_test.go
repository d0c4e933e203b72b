package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAlertsOpenAckResolve pins issue 15's stored alerts: a firing alert
// is acknowledged once, resolved by its rule and subject (acknowledged or
// not), events stay events, and the list filters by state, newest first.
func TestAlertsOpenAckResolve(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.AddAlert(ctx, AlertRecord{Rule: "r", Subject: "node:a", State: AlertResolved}); !errors.Is(err, ErrInvalid) {
		t.Errorf("adding a resolved alert: %v, want ErrInvalid", err)
	}
	if _, err := s.ResolveAlert(ctx, "offline", "node:cam1", "back", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolving what never fired: %v, want ErrNotFound", err)
	}
	a, err := s.AddAlert(ctx, AlertRecord{Rule: "offline", Kind: "device_offline", Severity: "critical", Subject: "node:cam1",
		Summary: "cam1 offline", State: AlertFiring, StartsAt: t0})
	if err != nil || a.ID == 0 || !a.Open() || !a.StartsAt.Equal(t0) {
		t.Fatalf("add: %+v, %v", a, err)
	}
	ev, err := s.AddAlert(ctx, AlertRecord{Rule: "joins", Kind: "device_joined", Subject: "node:cam2", State: AlertEvent, StartsAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AckAlert(ctx, ev.ID, "user:olga", t0); !errors.Is(err, ErrConflict) {
		t.Errorf("acknowledging an event: %v, want ErrConflict", err)
	}
	a, err = s.AckAlert(ctx, a.ID, "user:olga", t0.Add(time.Minute))
	if err != nil || a.State != AlertAcknowledged || a.AckedBy != "user:olga" || !a.Open() {
		t.Fatalf("ack: %+v, %v", a, err)
	}
	if _, err := s.AckAlert(ctx, a.ID, "user:oscar", t0); !errors.Is(err, ErrConflict) {
		t.Errorf("acknowledging twice: %v, want ErrConflict", err)
	}
	if _, err := s.AckAlert(ctx, 999, "user:oscar", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("acknowledging a missing alert: %v, want ErrNotFound", err)
	}
	end := t0.Add(time.Hour)
	a, err = s.ResolveAlert(ctx, "offline", "node:cam1", "cam1 back online", end)
	if err != nil || a.State != AlertResolved || !a.EndsAt.Equal(end) || a.Summary != "cam1 back online" || a.Open() {
		t.Fatalf("resolve: %+v, %v", a, err)
	}
	if _, err := s.ResolveAlert(ctx, "offline", "node:cam1", "again", end); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolving twice: %v, want ErrNotFound", err)
	}
	all, err := s.ListAlerts(ctx, nil, 0)
	if err != nil || len(all) != 2 || all[0].ID != ev.ID {
		t.Fatalf("list all: %+v, %v; want 2, newest first", all, err)
	}
	open, err := s.ListAlerts(ctx, []AlertState{AlertFiring, AlertAcknowledged}, 10)
	if err != nil || len(open) != 0 {
		t.Errorf("open alerts: %+v, %v; want none", open, err)
	}
	events, err := s.ListAlerts(ctx, []AlertState{AlertEvent}, 1)
	if err != nil || len(events) != 1 || events[0].Subject != "node:cam2" {
		t.Errorf("events: %+v, %v", events, err)
	}
}

// TestAlertNotifiedAndInhibitedKept: when an alert last went out, whether
// it is inhibited and its device's tags are kept, so a restarted
// coordinator repeats it after the repeat interval, not at once.
func TestAlertNotifiedAndInhibitedKept(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	a, err := s.AddAlert(ctx, AlertRecord{Rule: "offline", Kind: "device_offline", Subject: "node:cam1", State: AlertFiring,
		StartsAt: t0, Tags: []string{"tag:site-a", "tag:camera"}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.NotifiedAt.IsZero() || a.Inhibited || len(a.Tags) != 2 {
		t.Fatalf("new alert: %+v", a)
	}
	if err := s.NoteAlert(ctx, a.ID, t0.Add(time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if err := s.NoteAlert(ctx, a.ID+100, t0, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("noting a missing alert: %v, want ErrNotFound", err)
	}
	got, err := s.ListAlerts(ctx, []AlertState{AlertFiring}, 0)
	if err != nil || len(got) != 1 || !got[0].NotifiedAt.Equal(t0.Add(time.Minute)) || !got[0].Inhibited || got[0].Tags[0] != "tag:camera" {
		t.Fatalf("listed: %+v, %v", got, err)
	}
}

// TestAlertRuleVersionsAppendOnly: the alert rules' versions are kept
// like the policy's, apart from them, with the same stale-parent check.
func TestAlertRuleVersionsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.LatestAlertRules(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("latest of none: %v, want ErrNotFound", err)
	}
	v1, err := s.SaveAlertRules(ctx, NewPolicy{Text: "{}", Author: "user:olga", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveAlertRules(ctx, NewPolicy{Text: "{\"rules\": []}", ParentID: 0}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale parent: %v, want ErrConflict", err)
	}
	v2, err := s.SaveAlertRules(ctx, NewPolicy{Text: "{\"rules\": []}", ParentID: v1.ID, Author: "user:oscar"})
	if err != nil || v2.ParentID != v1.ID {
		t.Fatalf("second: %+v, %v", v2, err)
	}
	if _, err := s.LatestPolicy(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("the policy's versions saw the rules: %v", err)
	}
	latest, _ := s.LatestAlertRules(ctx)
	old, _ := s.AlertRulesVersion(ctx, v1.ID)
	list, _ := s.ListAlertRules(ctx)
	if latest.ID != v2.ID || old.Author != "user:olga" || len(list) != 2 || list[0].ID != v2.ID {
		t.Fatalf("latest %+v old %+v list %+v", latest, old, list)
	}
}
