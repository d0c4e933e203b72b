package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAdminSessions: a session is found by its key until it expires, and
// ends alone, with its person, or by email for a person with no user.
func TestAdminSessions(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mk := func(b byte, user, email string, exp time.Time) AdminSession {
		return AdminSession{Key: [32]byte{b}, User: user, Email: email, Record: []byte(`{"r":1}`), Expires: exp}
	}
	for _, a := range []AdminSession{
		mk(1, "7", "a@x", t0.Add(time.Hour)), mk(2, "7", "a@x", t0.Add(time.Hour)),
		mk(3, "", "b@x", t0.Add(time.Hour)), mk(4, "8", "c@x", t0.Add(time.Minute)),
	} {
		if err := s.PutAdminSession(ctx, a, t0); err != nil {
			t.Fatal(err)
		}
	}
	alive := func(b byte, now time.Time) bool {
		_, err := s.AdminSession(ctx, [32]byte{b}, now)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	got, err := s.AdminSession(ctx, [32]byte{1}, t0)
	if err != nil || got.User != "7" || string(got.Record) != `{"r":1}` || !got.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("session 1: %+v, %v", got, err)
	}
	if alive(4, t0.Add(2*time.Minute)) {
		t.Error("an expired session is found")
	}
	if n, err := s.DeleteAdminSessionsOf(ctx, "7", ""); err != nil || n != 2 {
		t.Errorf("end user 7's sessions: %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteAdminSessionsOf(ctx, "", "b@x"); err != nil || n != 1 {
		t.Errorf("end b@x's sessions: %d, %v; want 1", n, err)
	}
	if err := s.DeleteAdminSession(ctx, [32]byte{4}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []byte{1, 2, 3, 4} {
		if alive(b, t0) {
			t.Errorf("session %d still alive", b)
		}
	}
}
