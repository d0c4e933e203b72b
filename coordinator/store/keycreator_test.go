package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMigrateKeyCreator: keys made before migration 0003 named their
// creator only as an audit actor. The migration traces each chain of API
// keys to its root: the system's keys stay valid with no person, a
// person's keys (made in the UI, or with a key of theirs) become theirs,
// and keys nobody can trace to one person are revoked and audited.
func TestMigrateKeyCreator(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, err := prepareFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := openPool(ctx, path, writerParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil || len(ms) < 3 || ms[2].name != "0003_key_creator.sql" {
		t.Fatalf("migrations: %v %v", ms, err)
	}
	if err := applyMigrations(ctx, &db{w: w}, ms[:2]); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, email := range []string{"carol@example.com", "shared@example.com", "shared@example.com"} {
		exec(`INSERT INTO users (issuer, subject, email, created_at) VALUES ('idp', ?, ?, 1)`, fmt.Sprint("s", i), email)
	}
	apiKeys := []struct{ prefix, by string }{
		{"wak_sys", "system"},                     // 1: the bootstrap key
		{"wak_ci", "apikey:wak_sys"},              // 2: made with it
		{"wak_carol", "user:carol@example.com"},   // 3: carol's, in the UI
		{"wak_carol2", "apikey:wak_carol"},        // 4: made with carol's key
		{"wak_ghost", "user:ghost@example.com"},   // 5: nobody has the email
		{"wak_lost", "apikey:wak_gone"},           // 6: no such key
		{"wak_shared", "user:shared@example.com"}, // 7: two users have it
	}
	for i, k := range apiKeys {
		exec(`INSERT INTO api_keys (hash, prefix, description, created_by, created_at) VALUES (?, ?, '', ?, ?)`,
			hashBytes(k.prefix), k.prefix, k.by, i+1)
	}
	authKeys := []string{"user:carol@example.com", "apikey:wak_carol2", "apikey:wak_ci", "apikey:wak_ghost", "system"}
	for i, by := range authKeys {
		exec(`INSERT INTO auth_keys (hash, prefix, tags_json, reusable, ephemeral, created_by, created_at)
			VALUES (?, ?, '["tag:a"]', 1, 0, ?, 100)`, hashBytes(by), fmt.Sprint("wpk_", i), by)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	s := openDir(t, dir) // applies 0003
	gotAPI, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAPI := []struct {
		creator UserID
		revoked bool
	}{{0, false}, {0, false}, {1, false}, {1, false}, {0, true}, {0, true}, {0, true}}
	for i, k := range gotAPI {
		if k.CreatorUserID != wantAPI[i].creator || !k.RevokedAt.IsZero() != wantAPI[i].revoked {
			t.Errorf("api key %s (%s): creator %d revoked %v, want %d %v", k.Prefix, k.CreatedBy,
				k.CreatorUserID, !k.RevokedAt.IsZero(), wantAPI[i].creator, wantAPI[i].revoked)
		}
	}
	gotAuth, err := s.ListAuthKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := []struct {
		creator UserID
		revoked bool
	}{{1, false}, {1, false}, {0, false}, {0, true}, {0, false}}
	for i, k := range gotAuth {
		if k.CreatorUserID != wantAuth[i].creator || !k.RevokedAt.IsZero() != wantAuth[i].revoked {
			t.Errorf("auth key %s (%s): creator %d revoked %v, want %d %v", k.Prefix, k.CreatedBy,
				k.CreatorUserID, !k.RevokedAt.IsZero(), wantAuth[i].creator, wantAuth[i].revoked)
		}
	}
	evs, err := s.ListAudit(ctx, AuditFilter{Actor: "system"})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, e := range evs {
		targets = append(targets, e.Action+" "+e.Target)
	}
	slices.Sort(targets)
	want := []string{"apikey.revoke apikey:5", "apikey.revoke apikey:6", "apikey.revoke apikey:7", "authkey.revoke authkey:4"}
	if fmt.Sprint(targets) != fmt.Sprint(want) {
		t.Errorf("audit of the migration's revocations: %v, want %v", targets, want)
	}
}

// TestKeyCreatorDisabled: a pre-auth key registers no node while the
// person it was made by is disabled, and again once enabled; keys cannot
// be made on the authority of a disabled person.
func TestKeyCreatorDisabled(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	carol := mustUser(t, s, "carol@example.com")
	k := tagKey("k1")
	k.Reusable, k.CreatorUserID = true, carol.ID
	mustAuthKey(t, s, k)
	if _, _, err := s.RegisterWithAuthKey(ctx, secret("k1"), t0, newNode(1)); err != nil {
		t.Fatalf("register with carol's key: %v", err)
	}
	if err := s.SetUserDisabled(ctx, carol.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RegisterWithAuthKey(ctx, secret("k1"), t0, newNode(2)); !errors.Is(err, ErrKeyCreatorDisabled) {
		t.Errorf("register with a disabled person's key: %v, want ErrKeyCreatorDisabled", err)
	}
	k2 := tagKey("k2")
	k2.CreatorUserID = carol.ID
	if _, err := s.CreateAuthKey(ctx, k2); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("create a pre-auth key on a disabled person's authority: %v", err)
	}
	if _, err := s.CreateAPIKey(ctx, NewAPIKey{Hash: secret("a1"), Prefix: "wak_a1", CreatorUserID: carol.ID, CreatedAt: t0, Scopes: []string{"read"}}); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("create an API key on a disabled person's authority: %v", err)
	}
	if err := s.SetUserDisabled(ctx, carol.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RegisterWithAuthKey(ctx, secret("k1"), t0.Add(time.Second), newNode(2)); err != nil {
		t.Errorf("register with carol's key once she is enabled: %v", err)
	}
}

// hashBytes is secret(s) as a column value.
func hashBytes(s string) []byte { h := secret(s); return h[:] }

// TestAPIKeyScopesMigrationKeepsOldKeysRights: a key made before API key
// scopes existed gets the "admin" scope from the migration, so it keeps
// every right of its role.
func TestAPIKeyScopesMigrationKeepsOldKeysRights(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, err := prepareFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := openPool(ctx, path, writerParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return strings.HasSuffix(m.name, "_api_key_scopes.sql") })
	if i < 0 {
		t.Fatal("no api key scopes migration")
	}
	if err := applyMigrations(ctx, &db{w: w}, ms[:i]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO api_keys (hash, prefix, description, created_by, created_at) VALUES (?, 'wak_old', '', 'system', 1)`,
		hashBytes("wak_old")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := openDir(t, dir)
	keys, err := s.ListAPIKeys(ctx)
	if err != nil || len(keys) != 1 || !slices.Equal(keys[0].Scopes, []string{"admin"}) {
		t.Fatalf("old key after the migration: %+v %v; want scopes [admin]", keys, err)
	}
}
