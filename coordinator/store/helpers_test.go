package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/internal/pgtest"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// openTest opens a store in a fresh location (a directory, or under
// TestPostgres a PostgreSQL database) and closes it at cleanup. It returns
// the location, which openDir opens again.
func openTest(t testing.TB, opts ...Option) (*SQLStore, string) {
	t.Helper()
	dir := location(t)
	return openDir(t, dir, opts...), dir
}

// onPostgres reports whether t runs the suite against PostgreSQL: it is
// a subtest of TestPostgres.
func onPostgres(t testing.TB) bool {
	return strings.HasPrefix(t.Name(), "TestPostgres/")
}

// location returns where t's store lives: a fresh directory, or under
// TestPostgres the URL of a fresh database.
func location(t testing.TB) string {
	t.Helper()
	if onPostgres(t) {
		return pgtest.NewDB(t)
	}
	return t.TempDir()
}

// openAt opens the store at loc, a directory or a PostgreSQL URL.
func openAt(ctx context.Context, loc string, opts ...Option) (*SQLStore, error) {
	if IsPostgresURL(loc) {
		return OpenPostgres(ctx, loc, opts...)
	}
	return Open(ctx, loc, opts...)
}

// openDir opens the store at dir (a location) and closes it at cleanup.
func openDir(t testing.TB, dir string, opts ...Option) *SQLStore {
	t.Helper()
	s, err := openAt(context.Background(), dir, opts...)
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
func mustAuthKey(t testing.TB, s *SQLStore, k NewAuthKey) AuthKey {
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
func mustRegister(t testing.TB, s *SQLStore, i int, now time.Time) Node {
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
func mustUser(t testing.TB, s *SQLStore, email string) User {
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
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }))
}
