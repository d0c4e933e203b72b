package store

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestOpenSetsPragmas(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	tests := []struct {
		pool   string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "10000"},
		{"reader", "journal_mode", "wal"},
		{"reader", "query_only", "1"},
		{"reader", "busy_timeout", "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.pool+"/"+tt.pragma, func(t *testing.T) {
			pool := s.db.w
			if tt.pool == "reader" {
				pool = s.db.r
			}
			var got string
			if err := pool.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	dir := location(t)
	ctx := context.Background()
	for round := range 3 {
		s, err := openAt(ctx, dir)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		var n, max int
		err = s.db.r.QueryRowContext(ctx,
			`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := loadMigrations(migrationFiles, "migrations")
		if s.db.pg {
			ms, _ = loadMigrations(pgMigrationFiles, "migrations_pg")
		}
		if n != len(ms) || max != len(ms) {
			t.Errorf("round %d: %d migrations recorded up to %d, want %d", round, n, max, len(ms))
		}
		if _, err := s.AppendAudit(ctx, AuditEvent{Actor: "test", Action: "open"}); err != nil {
			t.Fatal(err)
		}
		events, err := s.ListAudit(ctx, AuditFilter{})
		if err != nil || len(events) != round+1 {
			t.Errorf("round %d: %d events (%v), want %d", round, len(events), err, round+1)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	s, dir := openTest(t)
	_, err := s.db.w.Exec(`INSERT INTO schema_migrations VALUES (999, 'future.sql', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = openAt(context.Background(), dir)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, dir := openTest(t)
	fi, err := os.Stat(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode %v, want 0600", perm)
	}
}

func TestOpenULA(t *testing.T) {
	custom := netip.MustParsePrefix("fd00:1:2::/48")
	tests := []struct {
		name    string
		first   []Option // options of a first Open, if any
		opts    []Option
		wantV6  string
		wantErr error
	}{
		{"default", nil, nil, "fdaa:7761:7264::6440:1", nil},
		{"custom", nil, []Option{WithULA(custom)}, "fd00:1:2::6440:1", nil},
		{"kept from database", []Option{WithULA(custom)}, nil, "fd00:1:2::6440:1", nil},
		{"same as database", []Option{WithULA(custom)}, []Option{WithULA(custom)}, "fd00:1:2::6440:1", nil},
		{"changed", []Option{WithULA(custom)}, []Option{WithULA(defaultULA)}, "", ErrPrefixChanged},
		{"not a /48", nil, []Option{WithULA(netip.MustParsePrefix("fd00::/64"))}, "", ErrInvalid},
		{"not unique local", nil, []Option{WithULA(netip.MustParsePrefix("2001:db8::/48"))}, "", ErrInvalid},
		{"not masked", nil, []Option{WithULA(netip.MustParsePrefix("fd00:0:0:1::/48"))}, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.first != nil {
				s, err := Open(context.Background(), dir, tt.first...)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(context.Background(), dir, tt.opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			t.Cleanup(func() { s.Close() })
			n := mustRegister(t, s, 1, t0)
			if got := n.IPv6.String(); got != tt.wantV6 {
				t.Errorf("IPv6 = %s, want %s", got, tt.wantV6)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []int
		wantErr bool
	}{
		{"embedded", nil, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, false},
		{"ordered", fstest.MapFS{
			"migrations/0002_b.sql": file("B"), "migrations/0001_a.sql": file("A"),
		}, []int{1, 2}, false},
		{"gap", fstest.MapFS{
			"migrations/0001_a.sql": file("A"), "migrations/0003_c.sql": file("C"),
		}, nil, true},
		{"no number", fstest.MapFS{"migrations/init.sql": file("A")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fsys fs.FS = tt.fsys
			if tt.fsys == nil {
				fsys = migrationFiles
			}
			ms, err := loadMigrations(fsys, "migrations")
			if (err != nil) != tt.wantErr {
				t.Fatalf("loadMigrations error = %v, want error %t", err, tt.wantErr)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("versions (-want +got):\n%s", d)
			}
		})
	}
	t.Run("postgres has the same migrations", func(t *testing.T) {
		lite, err1 := loadMigrations(migrationFiles, "migrations")
		pg, err2 := loadMigrations(pgMigrationFiles, "migrations_pg")
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		names := func(ms []migration) (n []string) {
			for _, m := range ms {
				n = append(n, m.name)
			}
			return n
		}
		if d := diff(names(lite), names(pg)); d != "" {
			t.Errorf("migration names (-sqlite +postgres):\n%s", d)
		}
	})
}
