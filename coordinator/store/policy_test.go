package store

import (
	"context"
	"errors"
	"testing"
)

func TestSavePolicy(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		existing   int // versions saved first
		parent     PolicyID
		wantErr    error
		wantParent PolicyID
	}{
		{"first", 0, 0, nil, 0},
		{"first, any parent", 0, AnyParent, nil, 0},
		{"next", 2, 2, nil, 2},
		{"stale parent", 2, 1, ErrConflict, 0},
		{"parent 0 when one exists", 1, 0, ErrConflict, 0},
		{"parent from the future", 1, 5, ErrConflict, 0},
		{"any parent", 2, AnyParent, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			for i := range tt.existing {
				if _, err := s.SavePolicy(ctx, NewPolicy{Text: "{}", ParentID: PolicyID(i), CreatedAt: t0}); err != nil {
					t.Fatal(err)
				}
			}
			np := NewPolicy{Text: `{"acls": []}`, Author: "user:a@x", Comment: "tighten",
				ParentID: tt.parent, CreatedAt: t0}
			p, err := s.SavePolicy(ctx, np)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SavePolicy error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if ps, _ := s.ListPolicies(ctx); len(ps) != tt.existing {
					t.Errorf("%d versions after a conflict, want %d", len(ps), tt.existing)
				}
				return
			}
			want := Policy{ID: PolicyID(tt.existing + 1), ParentID: tt.wantParent, Text: np.Text,
				Author: np.Author, Comment: np.Comment, CreatedAt: t0}
			if d := diff(want, p); d != "" {
				t.Errorf("saved (-want +got):\n%s", d)
			}
			latest, err := s.LatestPolicy(ctx)
			if err != nil || diff(p, latest) != "" {
				t.Errorf("LatestPolicy = %+v, %v; want %+v", latest, err, p)
			}
		})
	}
}

func TestPolicyReads(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.LatestPolicy(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestPolicy on empty store: %v, want ErrNotFound", err)
	}
	var saved []Policy
	for i := range 3 {
		p, err := s.SavePolicy(ctx, NewPolicy{Text: "{}", ParentID: PolicyID(i), CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		saved = append([]Policy{p}, saved...)
	}
	list, err := s.ListPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(saved, list); d != "" {
		t.Errorf("ListPolicies, newest first (-want +got):\n%s", d)
	}
	if p, err := s.Policy(ctx, 2); err != nil || diff(saved[1], p) != "" {
		t.Errorf("Policy(2) = %+v, %v", p, err)
	}
	if _, err := s.Policy(ctx, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("Policy(9): %v, want ErrNotFound", err)
	}
}
