package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// batchAudit makes one audit event per registration, naming the node.
func batchAudit(n Node, k AuthKey) []AuditEvent {
	return []AuditEvent{{Time: t0, Actor: fmt.Sprintf("authkey:%d", k.ID), Action: "node.register",
		Target: "node:" + n.Name, Detail: json.RawMessage(fmt.Sprintf(`{"use_count":%d}`, k.UseCount))}}
}

func TestRegisterBatch(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mustAuthKey(t, s, tagKey("once"))
	many := tagKey("many")
	many.Reusable = true
	mustAuthKey(t, s, many)
	badAudit := func(Node, AuthKey) []AuditEvent { return []AuditEvent{{Action: "bad", Detail: json.RawMessage(`{`)}} }
	zero := newNode(9)
	zero.MachineKey = MachinePublic{}
	regs := []KeyRegistration{
		{KeyHash: secret("once"), Now: t0, Node: newNode(1), Audit: batchAudit},
		{KeyHash: secret("once"), Now: t0, Node: newNode(2), Audit: batchAudit}, // used by the first
		{KeyHash: secret("nope"), Now: t0, Node: newNode(3), Audit: batchAudit}, // unknown
		{KeyHash: secret("many"), Now: t0, Node: newNode(1), Audit: batchAudit}, // machine taken by the first
		{KeyHash: secret("many"), Now: t0, Node: zero, Audit: batchAudit},       // invalid
		{KeyHash: secret("many"), Now: t0, Node: newNode(5), Audit: badAudit},   // its audit row is refused
		{KeyHash: secret("many"), Now: t0, Node: newNode(6), Audit: batchAudit}, // fine
		{KeyHash: secret("many"), Now: t0, Node: newNode(7)},                    // fine, no audit
	}
	want := []error{nil, ErrAuthKeyUsed, ErrAuthKeyNotFound, ErrMachineExists, ErrInvalid, ErrInvalid, nil, nil}
	res := s.RegisterBatch(ctx, regs)
	if len(res) != len(regs) {
		t.Fatalf("%d results for %d registrations", len(res), len(regs))
	}
	for i, r := range res {
		if want[i] == nil && r.Err != nil || want[i] != nil && !errors.Is(r.Err, want[i]) {
			t.Errorf("registration %d: %v, want %v", i, r.Err, want[i])
		}
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Errorf("%d nodes stored, want 3 (the refused ones change nothing)", len(nodes))
	}
	for _, i := range []int{0, 6, 7} {
		n, err := s.Node(ctx, res[i].Node.ID)
		if err != nil || n.MachineKey != regs[i].Node.MachineKey || n.Name != res[i].Node.Name {
			t.Errorf("registration %d: stored %+v (%v), returned %+v", i, n, err, res[i].Node)
		}
	}
	if k, _ := s.AuthKey(ctx, 1); k.UseCount != 1 {
		t.Errorf("single-use key used %d times, want 1", k.UseCount)
	}
	if k, _ := s.AuthKey(ctx, 2); k.UseCount != 2 {
		t.Errorf("reusable key used %d times, want 2 (the refused registrations roll back their use)", k.UseCount)
	}
	list, err := s.ListAudit(ctx, AuditFilter{Order: ByID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Target != "node:"+res[0].Node.Name || list[1].Target != "node:"+res[6].Node.Name {
		t.Fatalf("audit rows %+v, want one for each of registrations 0 and 6", list)
	}
	if list[1].PrevHash != list[0].Hash || list[0].Hash == "" {
		t.Errorf("the batch's audit rows are not chained: %+v", list)
	}
	if len(res[0].Audits) != 1 || res[0].Audits[0].ID != list[0].ID || res[0].Audits[0].Hash != list[0].Hash {
		t.Errorf("returned audits %+v, stored %+v", res[0].Audits, list[0])
	}
}

// TestRegisterBatchSingleUseKeyRace: batches written concurrently, each
// holding registrations with the same single-use key, register one node.
func TestRegisterBatchSingleUseKeyRace(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mustAuthKey(t, s, tagKey("once"))
	const batches, per = 5, 4
	res := make([][]KeyRegistered, batches)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for b := range batches {
		wg.Go(func() {
			regs := make([]KeyRegistration, per)
			for i := range regs {
				regs[i] = KeyRegistration{KeyHash: secret("once"), Now: t0, Node: newNode(b*per + i), Audit: batchAudit}
			}
			<-start
			res[b] = s.RegisterBatch(ctx, regs)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, rs := range res {
		for _, r := range rs {
			switch {
			case r.Err == nil:
				ok++
			case !errors.Is(r.Err, ErrAuthKeyUsed):
				t.Errorf("unexpected error: %v", r.Err)
			}
		}
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	audits, _ := s.ListAudit(ctx, AuditFilter{})
	if ok != 1 || len(nodes) != 1 || len(audits) != 1 {
		t.Errorf("%d succeeded, %d nodes, %d audit rows; want 1 of each", ok, len(nodes), len(audits))
	}
}
