package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/auditchain"
)

func TestAppendAudit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	e := AuditEvent{Time: t0, Actor: "apikey:ab12", Action: "node.register", Target: "node:5",
		Source: "192.0.2.9:5555", Detail: json.RawMessage(`{"name":"cam"}`)}
	got, err := s.AppendAudit(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash == "" || got.PrevHash != "" {
		t.Errorf("first event's chain: prev %q, hash %q", got.PrevHash, got.Hash)
	}
	e.ID, e.Hash = got.ID, got.Hash
	if d := diff(e, got); d != "" {
		t.Errorf("appended (-want +got):\n%s", d)
	}
	list, _ := s.ListAudit(ctx, AuditFilter{})
	if d := diff([]AuditEvent{e}, list); d != "" {
		t.Errorf("listed (-want +got):\n%s", d)
	}
	if _, err := s.AppendAudit(ctx, AuditEvent{Action: "x", Detail: json.RawMessage(`{`)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad detail: %v, want ErrInvalid", err)
	}
	now, err := s.AppendAudit(ctx, AuditEvent{Action: "x"})
	if err != nil || time.Since(now.Time) > time.Minute {
		t.Errorf("zero time: got %v, %v; want about now", now.Time, err)
	}
}

func TestListAudit(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	events := []AuditEvent{
		{Time: t0, Actor: "user:a", Action: "node.register", Target: "node:1"},
		{Time: t0.Add(1 * time.Minute), Actor: "user:b", Action: "node.delete", Target: "node:1"},
		{Time: t0.Add(2 * time.Minute), Actor: "user:a", Action: "policy.save", Target: "policy:1"},
		{Time: t0.Add(3 * time.Minute), Actor: "node:1", Action: "node_x.odd", Target: "node:1"},
		{Time: t0.Add(3 * time.Minute), Actor: "user:a", Action: "node.register", Target: "node:2"},
	}
	for _, e := range events {
		if _, err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    AuditFilter
		want []AuditID
	}{
		{"all, newest first", AuditFilter{}, []AuditID{5, 4, 3, 2, 1}},
		{"all, oldest first", AuditFilter{Order: OldestFirst}, []AuditID{1, 2, 3, 4, 5}},
		{"limit", AuditFilter{Limit: 2}, []AuditID{5, 4}},
		{"limit oldest", AuditFilter{Limit: 2, Order: OldestFirst}, []AuditID{1, 2}},
		{"since", AuditFilter{Since: t0.Add(2 * time.Minute)}, []AuditID{5, 4, 3}},
		{"until", AuditFilter{Until: t0.Add(2 * time.Minute)}, []AuditID{2, 1}},
		{"actor", AuditFilter{Actor: "user:a"}, []AuditID{5, 3, 1}},
		{"action prefix", AuditFilter{ActionPrefix: "node."}, []AuditID{5, 2, 1}},
		{"action prefix with wildcard is literal", AuditFilter{ActionPrefix: "node?"}, nil},
		{"target", AuditFilter{Target: "node:1"}, []AuditID{4, 2, 1}},
		{"combined", AuditFilter{Actor: "user:a", ActionPrefix: "node.", Since: t0.Add(time.Second)}, []AuditID{5}},
		{"none", AuditFilter{Actor: "nobody"}, nil},
		{"after an ID, in append order", AuditFilter{AfterID: 2, Order: ByID, Limit: 2}, []AuditID{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []AuditID
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if d := diff(tt.want, ids); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
		})
	}
}

func TestMapVersions(t *testing.T) {
	s, dir := openTest(t)
	ctx := context.Background()
	if v, err := s.MapVersion(ctx); err != nil || v != 0 {
		t.Errorf("MapVersion on new store = %d, %v; want 0", v, err)
	}
	for want := uint64(1); want <= 3; want++ {
		if v, err := s.NextMapVersion(ctx); err != nil || v != want {
			t.Errorf("NextMapVersion = %d, %v; want %d", v, err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir)
	if v, err := s.NextMapVersion(ctx); err != nil || v != 4 {
		t.Errorf("after reopen NextMapVersion = %d, %v; want 4", v, err)
	}
}

// TestAuditChainAcrossStores: two stores on one database (two
// coordinators on one PostgreSQL, or two processes on one SQLite file)
// append at once; the log stays one chain, with consecutive IDs, that
// auditchain verifies.
func TestAuditChainAcrossStores(t *testing.T) {
	a, loc := openTest(t)
	b := openDir(t, loc)
	ctx := context.Background()
	const writers, each = 6, 10
	var wg sync.WaitGroup
	for i := range writers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for j := range each {
				if _, err := s.AppendAudit(ctx, AuditEvent{Actor: "w", Action: "x", Target: fmt.Sprint(i, "/", j)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	evs, err := b.ListAudit(ctx, AuditFilter{Order: OldestFirst})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(evs, func(x, y AuditEvent) int { return cmp.Compare(x.ID, y.ID) })
	v := auditchain.NewVerifier(nil)
	for _, e := range evs {
		v.Add(chainEntry(e))
	}
	if r := v.Report(); !r.OK() || r.Entries != writers*each || r.Legacy != 0 {
		t.Errorf("chain of %d events: %+v", len(evs), r)
	}
}
