package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestPendingLogins: logins are bounded per source and in all (a full
// table drops the busiest source's oldest unopened login, never an opened
// one), a machine's new login replaces its unopened one, each step
// happens once, a login ends once, and an expired one is gone.
func TestPendingLogins(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	lim := PendingLoginLimits{PerSource: 3, Size: 5}
	seq := byte(0)
	mk := func(src string) PendingLogin {
		seq++
		return PendingLogin{Key: [32]byte{seq}, Machine: MachinePublic{seq}, Source: src, Started: t0.Add(time.Duration(seq) * time.Second),
			Expires: t0.Add(time.Hour), Record: []byte(`{}`)}
	}
	has := func(k byte) bool {
		_, err := s.PendingLogin(ctx, [32]byte{k}, t0)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// 1..3 from one source; the fourth is refused.
	for range 3 {
		if err := s.AddPendingLogin(ctx, mk("a"), lim, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPendingLogin(ctx, mk("a"), lim, t0); !errors.Is(err, ErrPendingSourceFull) {
		t.Fatalf("fourth login from one source: %v, want ErrPendingSourceFull", err)
	}
	// Login 1 is opened: it moves on once.
	p, err := s.PendingLogin(ctx, [32]byte{1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p.Step, p.Browser = 1, [32]byte{0xb}
	if err := s.AdvancePendingLogin(ctx, p, 0, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvancePendingLogin(ctx, p, 0, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("the same step twice: %v, want ErrConflict", err)
	}
	if got, _ := s.PendingLogin(ctx, [32]byte{1}, t0); got.Step != 1 || got.Browser != p.Browser {
		t.Fatalf("after open: %+v", got)
	}
	// 5 and 6 (two sources) fill the table; 7 pushes out the busiest
	// source's ("a") oldest unopened login, 2, never the opened 1.
	for _, src := range []string{"b", "c"} {
		if err := s.AddPendingLogin(ctx, mk(src), lim, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPendingLogin(ctx, mk("d"), lim, t0); err != nil {
		t.Fatal(err)
	}
	if !has(1) || has(2) || !has(3) || !has(7) {
		t.Fatalf("after the table filled: 1 %t 2 %t 3 %t 7 %t; want 2 pushed out", has(1), has(2), has(3), has(7))
	}
	if n, _ := s.CountPendingLogins(ctx); n != lim.Size {
		t.Fatalf("%d logins stored, bound %d", n, lim.Size)
	}
	// Machine 7 asks again: its unopened login is replaced.
	again := mk("d")
	again.Machine = MachinePublic{7}
	if err := s.AddPendingLogin(ctx, again, lim, t0); err != nil {
		t.Fatal(err)
	}
	if has(7) || !has(again.Key[0]) {
		t.Fatal("a machine's second login left its first one pending")
	}
	// It ends once.
	if ok, err := s.FinishPendingLogin(ctx, [32]byte{1}, 3, []byte(`{"done":true}`)); !ok || err != nil {
		t.Fatalf("finish: %t %v", ok, err)
	}
	if ok, err := s.FinishPendingLogin(ctx, [32]byte{1}, 3, []byte(`{"done":false}`)); ok || err != nil {
		t.Fatalf("finish again: %t %v, want false", ok, err)
	}
	if got, _ := s.PendingLogin(ctx, [32]byte{1}, t0); string(got.Result) != `{"done":true}` || got.Step != 3 {
		t.Fatalf("ended login: step %d result %s", got.Step, got.Result)
	}
	if err := s.AdvancePendingLogin(ctx, p, 1, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("a step after the end: %v, want ErrConflict", err)
	}
	// Expired: gone.
	if _, err := s.PendingLogin(ctx, [32]byte{3}, t0.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired login: %v, want ErrNotFound", err)
	}
	// A full table of opened logins refuses a new one.
	s2, _ := openTest(t)
	full := PendingLoginLimits{PerSource: 100, Size: 3}
	for i := range 3 {
		q := mk(fmt.Sprint("o", i))
		q.Step = 1
		if err := s2.AddPendingLogin(ctx, q, full, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.AddPendingLogin(ctx, mk("e"), full, t0); !errors.Is(err, ErrPendingFull) {
		t.Fatalf("a login into a table of opened logins: %v, want ErrPendingFull", err)
	}
}

// TestUseChallenge: a nonce is new once until it expires.
func TestUseChallenge(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n := []byte("0123456789abcdef")
	for i, want := range []bool{true, false} {
		if got, err := s.UseChallenge(ctx, n, t0.Add(30*time.Second), t0); got != want || err != nil {
			t.Fatalf("use %d: %t %v, want %t", i, got, err, want)
		}
	}
	if got, err := s.UseChallenge(ctx, []byte("fedcba9876543210"), t0.Add(2*time.Minute), t0.Add(time.Minute)); !got || err != nil {
		t.Fatal(got, err)
	}
	if got, err := s.UseChallenge(ctx, n, t0.Add(2*time.Minute), t0.Add(time.Minute)); !got || err != nil {
		t.Fatalf("a nonce past its expiry: %t %v, want new", got, err)
	}
}
