package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// openTest opens a store in a fresh directory and closes it at cleanup.
func openTest(t testing.TB, opts ...Option) (*SQLite, string) {
	t.Helper()
	dir := t.TempDir()
	return openDir(t, dir, opts...), dir
}

// openDir opens the store in dir and closes it at cleanup.
func openDir(t testing.TB, dir string, opts ...Option) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mkey, wgkey and secret make distinct, deterministic test values.
func mkey(i int) MachinePublic { return sha256.Sum256(fmt.Appendf(nil, "machine %d", i)) }
func wgkey(i int) WGPublic     { return sha256.Sum256(fmt.Appendf(nil, "wireguard %d", i)) }
func secret(s string) SecretHash {
	return sha256.Sum256([]byte(s))
}

// newNode returns a valid registration for machine i.
func newNode(i int) NewNode {
	return NewNode{
		Name:       fmt.Sprintf("node%d", i),
		Hostname:   fmt.Sprintf("host%d", i),
		OS:         "linux",
		Version:    "1.0.0",
		MachineKey: mkey(i),
		WGKey:      wgkey(i),
		KeyExpiry:  t0.Add(24 * time.Hour),
	}
}

// tagKey returns a single-use tagged pre-auth key with the given secret.
func tagKey(sec string) NewAuthKey {
	return NewAuthKey{
		Hash:      secret(sec),
		Prefix:    sec[:min(len(sec), 4)],
		Tags:      []string{"tag:camera"},
		CreatedBy: "user:admin@example.com",
		CreatedAt: t0,
	}
}

// mustAuthKey creates a pre-auth key or fails the test.
func mustAuthKey(t testing.TB, s *SQLite, k NewAuthKey) AuthKey {
	t.Helper()
	ak, err := s.CreateAuthKey(context.Background(), k)
	if err != nil {
		t.Fatalf("CreateAuthKey: %v", err)
	}
	return ak
}

// keySeq makes mustRegister's key secrets unique.
var keySeq atomic.Int64

// mustRegister registers machine i with a fresh reusable key.
func mustRegister(t testing.TB, s *SQLite, i int, now time.Time) Node {
	t.Helper()
	ctx := context.Background()
	sec := fmt.Sprintf("key-%d", keySeq.Add(1))
	k := tagKey(sec)
	k.Reusable = true
	mustAuthKey(t, s, k)
	n, _, err := s.RegisterWithAuthKey(ctx, secret(sec), now, newNode(i))
	if err != nil {
		t.Fatalf("RegisterWithAuthKey(%d): %v", i, err)
	}
	return n
}

// mustUser creates a user or fails the test.
func mustUser(t testing.TB, s *SQLite, email string) User {
	t.Helper()
	u, err := s.UpsertUser(context.Background(), Identity{
		Issuer: "https://idp.example.com", Subject: "sub-" + email, Email: email,
	}, t0)
	if err != nil {
		t.Fatalf("UpsertUser: %v", err)
	}
	return u
}

// diff compares records, treating nil and empty slices alike and netip
// values by their comparable form.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty(),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }))
}
