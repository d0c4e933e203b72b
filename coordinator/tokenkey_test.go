package coordinator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/internal/pgtest"
)

// TestRefreshTokensSealedInDatabase: a person's refresh token is in the
// database only sealed; another coordinator on the same PostgreSQL with
// the same key reads it (and can refresh them), one with another key
// cannot.
func TestRefreshTokensSealedInDatabase(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDB(t)
	open := func() *store.SQLStore {
		st, err := store.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	key, other := bytes.Repeat([]byte{1}, sealKeyLen), bytes.Repeat([]byte{2}, sealKeyLen)
	mk := func(st *store.SQLStore, k []byte) *refreshTokens {
		rt, err := newRefreshTokens(st, k)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	a, b := open(), open()
	id := store.Identity{Issuer: "https://idp.example", Subject: "alice"}
	const tok = "refresh-token-of-alice-0123456789"
	if err := mk(a, key).put(ctx, id, tok); err != nil {
		t.Fatal(err)
	}
	raw, err := b.RefreshToken(ctx, id.Issuer, id.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(tok)) || bytes.Contains(raw, []byte("alice")) {
		t.Fatalf("the database holds the token in the clear: %q", raw)
	}
	got, _, err := mk(b, key).get(ctx, id)
	if err != nil || got != tok {
		t.Fatalf("other replica with the key: %q, %v; want the token", got, err)
	}
	if _, _, err := mk(b, other).get(ctx, id); !errors.Is(err, errNoRefreshToken) || !errors.Is(err, errTokenUnreadable) {
		t.Fatalf("with another key: %v, want errTokenUnreadable (an errNoRefreshToken)", err)
	}
}

// TestTokenKeyOthersCanReadIsRefused pins the review's finding "an
// existing key file with group or other permissions is accepted": the
// coordinator refuses to start on a refresh token key others can read,
// and accepts the one it made itself.
func TestTokenKeyOthersCanReadIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not Windows' access lists")
	}
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	made, err := tokenKey(cfg)
	if err != nil || len(made) != sealKeyLen {
		t.Fatalf("first start: %d bytes, %v", len(made), err)
	}
	again, err := tokenKey(cfg)
	if err != nil || !bytes.Equal(again, made) {
		t.Fatalf("second start: %v; want the same key", err)
	}
	if err := os.Chmod(filepath.Join(dir, TokenKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tokenKey(cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key others can read: %v; want a refusal naming chmod 600", err)
	}
}
