package store

import (
	"context"
	"errors"
	"testing"
)

// TestRefreshTokens: a token is kept per person, swapped only from the
// token it replaces, dropped, and moved with its issuer.
func TestRefreshTokens(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	get := func(iss, sub string) string {
		t.Helper()
		b, err := s.RefreshToken(ctx, iss, sub)
		if errors.Is(err, ErrNotFound) {
			return "<none>"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	steps := []struct {
		name string
		do   func() error
		iss  string
		want string
	}{
		{"put", func() error { return s.PutRefreshToken(ctx, "idp", "alice", []byte("t1"), t0) }, "idp", "t1"},
		{"replace", func() error { return s.PutRefreshToken(ctx, "idp", "alice", []byte("t2"), t0) }, "idp", "t2"},
		{"stale swap does nothing", func() error {
			return s.SwapRefreshToken(ctx, "idp", "alice", []byte("t1"), []byte("t3"), t0)
		}, "idp", "t2"},
		{"swap", func() error { return s.SwapRefreshToken(ctx, "idp", "alice", []byte("t2"), []byte("t3"), t0) }, "idp", "t3"},
		{"move", func() error { return s.MoveRefreshTokens(ctx, "idp", "idp2") }, "idp2", "t3"},
		{"drop", func() error { return s.SwapRefreshToken(ctx, "idp2", "alice", []byte("t3"), nil, t0) }, "idp2", "<none>"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := get(st.iss, "alice"); got != st.want {
			t.Fatalf("after %s: token %q, want %q", st.name, got, st.want)
		}
	}
}
