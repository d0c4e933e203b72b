package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAccessRequestDecidedOnce pins issue 17's access requests in the
// store: a request is made pending, approved (with its end) or denied
// once, and only an approved one is revoked, which ends it at once.
func TestAccessRequestDecidedOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	u := mustUser(t, s, "alice@example.com")
	n := mustRegister(t, s, 1, t0)
	if _, err := s.CreateAccessRequest(ctx, NewAccessRequest{UserID: u.ID, NodeID: n.ID, Proto: 6}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a request without port and duration: %v, want ErrInvalid", err)
	}
	r, err := s.CreateAccessRequest(ctx, NewAccessRequest{UserID: u.ID, NodeID: n.ID, Proto: 6, Port: 22, Duration: 2 * time.Hour, Reason: "INC-1234", CreatedAt: t0})
	if err != nil || r.Status != RequestPending || r.Reason != "INC-1234" || r.Duration != 2*time.Hour {
		t.Fatalf("create: %+v, %v", r, err)
	}
	if _, err := s.DecideAccessRequest(ctx, r.ID, RequestDecision{Status: RequestRevoked, By: "user:olga", At: t0}); !errors.Is(err, ErrConflict) {
		t.Errorf("revoking a pending request: %v, want ErrConflict", err)
	}
	end := t0.Add(2 * time.Hour)
	r, err = s.DecideAccessRequest(ctx, r.ID, RequestDecision{Status: RequestApproved, By: "user:olga", At: t0, Expires: end})
	if err != nil || r.Status != RequestApproved || !r.Expires.Equal(end) || r.DecidedBy != "user:olga" {
		t.Fatalf("approve: %+v, %v", r, err)
	}
	if _, err := s.DecideAccessRequest(ctx, r.ID, RequestDecision{Status: RequestDenied, By: "user:oscar", At: t0}); !errors.Is(err, ErrConflict) {
		t.Errorf("denying an approved request: %v, want ErrConflict", err)
	}
	later := t0.Add(time.Minute)
	r, err = s.DecideAccessRequest(ctx, r.ID, RequestDecision{Status: RequestRevoked, By: "user:admin", At: later})
	if err != nil || r.Status != RequestRevoked || !r.Expires.Equal(later) {
		t.Errorf("revoke: %+v, %v; want revoked, ending at the revocation", r, err)
	}
	all, err := s.ListAccessRequests(ctx)
	if err != nil || len(all) != 1 || all[0].ID != r.ID {
		t.Errorf("list: %+v, %v", all, err)
	}
}
