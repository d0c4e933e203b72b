package store

import (
	"context"
	"errors"
	"testing"
)

// TestNodeRiskClass pins issue 17's stored risk classes: a pre-auth key's
// class goes to the nodes that join with it; an admin sets or clears a
// node's class; a malformed class is refused and changes nothing; and the
// class survives a reopen.
func TestNodeRiskClass(t *testing.T) {
	ctx := context.Background()
	s, dir := openTest(t)
	k := tagKey("risky-key")
	k.RiskClass = "critical"
	if ak := mustAuthKey(t, s, k); ak.RiskClass != "critical" {
		t.Errorf("key's class = %q", ak.RiskClass)
	}
	n, _, err := s.RegisterWithAuthKey(ctx, secret("risky-key"), t0, newNode(1))
	if err != nil || n.RiskClass != "critical" {
		t.Fatalf("registered node's class = %q, %v; want critical", n.RiskClass, err)
	}
	bad := tagKey("bad-key")
	bad.RiskClass = "Not A Class"
	if _, err := s.CreateAuthKey(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("a key with a malformed class: %v, want ErrInvalid", err)
	}
	if err := s.SetNodeRiskClass(ctx, n.ID, "DROP TABLE"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetNodeRiskClass(malformed) = %v, want ErrInvalid", err)
	}
	if err := s.SetNodeRiskClass(ctx, n.ID, "sensitive"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeRiskClass(ctx, n.ID+100, "sensitive"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetNodeRiskClass(unknown node) = %v, want ErrNotFound", err)
	}
	s.Close()
	s = openDir(t, dir)
	got, err := s.Node(ctx, n.ID)
	if err != nil || got.RiskClass != "sensitive" {
		t.Errorf("after reopen: class %q, %v; want sensitive", got.RiskClass, err)
	}
	if err := s.SetNodeRiskClass(ctx, n.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Node(ctx, n.ID); got.RiskClass != "" {
		t.Errorf("cleared class = %q", got.RiskClass)
	}
}
