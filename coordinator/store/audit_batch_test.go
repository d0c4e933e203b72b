package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestAppendAuditsInOneWrite: a batch is stored in order, with IDs in
// append order, each event chained to the one before, and a batch with one
// bad detail stores nothing.
func TestAppendAuditsInOneWrite(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	events := []AuditEvent{
		{Time: t0, Actor: "authkey:1", Action: "authkey.use", Target: "node:cam", Detail: json.RawMessage(`{"use_count":1}`)},
		{Time: t0, Actor: "node:cam", Action: "node.register", Target: "node:cam"},
		{Time: t0, Actor: "node:cam2", Action: "node.register", Target: "node:cam2", Source: "192.0.2.9:5555"},
	}
	if err := s.AppendAudits(ctx, events); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAudit(ctx, AuditFilter{Order: OldestFirst})
	if err != nil || len(list) != len(events) {
		t.Fatalf("listed %d events (%v), want %d", len(list), err, len(events))
	}
	prev := ""
	for i, e := range events {
		e.ID, e.PrevHash, e.Hash = list[i].ID, prev, list[i].Hash
		prev = e.Hash
		if e.Hash == "" {
			t.Errorf("event %d is not chained", i)
		}
		if d := diff(e, list[i]); d != "" {
			t.Errorf("event %d (-want +got):\n%s", i, d)
		}
		if i > 0 && list[i].ID <= list[i-1].ID {
			t.Errorf("event %d: id %d after %d", i, list[i].ID, list[i-1].ID)
		}
	}
	bad := []AuditEvent{{Action: "ok"}, {Action: "bad", Detail: json.RawMessage(`{`)}}
	if err := s.AppendAudits(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad detail: %v, want ErrInvalid", err)
	}
	if list, _ := s.ListAudit(ctx, AuditFilter{}); len(list) != len(events) {
		t.Errorf("%d events after a refused batch, want %d", len(list), len(events))
	}
}
