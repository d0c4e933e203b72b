package store

import (
	"context"
	"testing"
	"time"
)

// TestStreamHolds: a node is online while any live holder holds a stream
// of it: one holder's close leaves it online while another holds one; a
// holder that stops renewing lets its nodes go offline once its lease
// lapsed (the other holder's renewal finds it), and learns it lost its
// hold; a release drops a holder's streams at once.
func TestStreamHolds(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a, b := mustRegister(t, s, 1, t0), mustRegister(t, s, 2, t0)
	one := s.streamTable
	two := streamTable{db: one.db, holder: "other-coordinator"}
	const lease = 15 * time.Second
	online := func(id NodeID) bool {
		n, err := s.Node(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return n.Online
	}
	hold := func(h streamTable, id NodeID, on bool, now time.Time) Presence {
		ps, err := h.HoldStreams(ctx, []Presence{{ID: id, LastSeen: now, Online: on}, {ID: 999, LastSeen: now, Online: on}}, now, lease)
		if err != nil || len(ps) != 1 || ps[0].ID != id {
			t.Fatalf("hold %d: %+v %v", id, ps, err)
		}
		return ps[0]
	}
	if p := hold(one, a.ID, true, t0); !p.Online || !online(a.ID) {
		t.Fatal("a's stream on one: not online")
	}
	if p := hold(two, a.ID, true, t0); !p.Online {
		t.Fatal("a's stream on two: not online")
	}
	hold(two, b.ID, true, t0)
	if p := hold(one, a.ID, false, t0.Add(time.Second)); !p.Online || !online(a.ID) {
		t.Fatal("a's stream closed on one while two holds one: offline")
	}
	// two dies: one renews, in time and then past two's lease.
	if lost, changed, err := one.RenewStreams(ctx, t0.Add(lease/2), lease); err != nil || lost || len(changed) != 0 {
		t.Fatalf("renew one within the lease: lost %t changed %+v %v", lost, changed, err)
	}
	lost, changed, err := one.RenewStreams(ctx, t0.Add(lease+2*time.Second), lease)
	if err != nil || lost {
		t.Fatalf("renew one: lost %t %v", lost, err)
	}
	if len(changed) != 2 || online(a.ID) || online(b.ID) {
		t.Fatalf("after two's lease lapsed: changed %+v, a online %t, b online %t; want both offline", changed, online(a.ID), online(b.ID))
	}
	// two comes back: it lost its hold.
	if lost, _, err := two.RenewStreams(ctx, t0.Add(lease+3*time.Second), lease); err != nil || !lost {
		t.Fatalf("renew two after its lease lapsed: lost %t %v, want lost", lost, err)
	}
	// A release drops one's streams at once.
	now := t0.Add(lease + 4*time.Second)
	hold(one, b.ID, true, now)
	if ps, err := one.ReleaseStreams(ctx, now); err != nil || len(ps) != 1 || ps[0].Online || online(b.ID) {
		t.Fatalf("release: %+v %v, b online %t", ps, err, online(b.ID))
	}
}
