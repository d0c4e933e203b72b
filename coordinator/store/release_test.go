package store

import (
	"bytes"
	"database/sql"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestReleases stores the TUF repository's files, replaces one of the
// same name, and reads them back (both dialects, see suite).
func TestReleases(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	meta := map[string][]byte{"1.root.json": []byte(`{"r":1}`), "timestamp.json": []byte(`{"t":1}`)}
	if err := s.PutRelease(ctx, meta, map[string][]byte{"ward/a": {0, 1, 2}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRelease(ctx, map[string][]byte{"timestamp.json": []byte(`{"t":2}`)}, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"1.root.json": `{"r":1}`, "timestamp.json": `{"t":2}`} {
		got, err := s.ReleaseMetadata(ctx, name)
		if err != nil || string(got) != want {
			t.Errorf("ReleaseMetadata(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if got := readTarget(t, s, "ward/a"); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("ReleaseTarget = %v", got)
	}
	if _, err := s.ReleaseTarget(ctx, "ward/b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing target: %v, want ErrNotFound", err)
	}
	if _, err := s.ReleaseMetadata(ctx, "2.root.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing metadata: %v, want ErrNotFound", err)
	}
}

// readTarget reads the whole target at path.
func readTarget(t *testing.T, s *SQLStore, path string) []byte {
	t.Helper()
	tr, err := s.ReleaseTarget(t.Context(), path)
	if err != nil {
		t.Fatalf("ReleaseTarget(%s): %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatalf("read target %s: %v", path, err)
	}
	if int64(len(b)) != tr.Size() {
		t.Fatalf("target %s: read %d bytes, size %d", path, len(b), tr.Size())
	}
	return b
}

// targetSizes are sizes around the chunk's edges.
var targetSizes = []int{0, 1, TargetChunk - 1, TargetChunk, TargetChunk + 1, 2*TargetChunk + TargetChunk/2 + 3}

// randomBytes returns n bytes of a seeded generator.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestReleaseTargetChunks stores targets of sizes around the chunk's
// edges and reads them back whole and from offsets across chunk
// boundaries; a replaced target drops its old chunks (both dialects).
func TestReleaseTargetChunks(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	targets := map[string][]byte{}
	for i, n := range targetSizes {
		targets["t/"+string(rune('a'+i))] = randomBytes(n, uint64(i))
	}
	if err := s.PutRelease(ctx, nil, targets, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for path, want := range targets {
		if got := readTarget(t, s, path); !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes read differ from the %d stored", path, len(got), len(want))
		}
	}
	big := targets["t/f"]
	tr, err := s.ReleaseTarget(ctx, "t/f")
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{TargetChunk - 7, 2*TargetChunk - 1, 5, 2 * TargetChunk} {
		if _, err := tr.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 20)
		if _, err := io.ReadFull(tr, got); err != nil || !bytes.Equal(got, big[off:off+20]) {
			t.Errorf("20 bytes at %d: %v, %v", off, got, err)
		}
	}
	if err := s.PutRelease(ctx, nil, map[string][]byte{"t/f": []byte("short")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := readTarget(t, s, "t/f"); string(got) != "short" {
		t.Errorf("replaced target: %q", got)
	}
	if _, err := tr.Seek(TargetChunk, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Read(make([]byte, 1)); !errors.Is(err, ErrConflict) {
		t.Errorf("reading a target replaced meanwhile: %v, want ErrConflict", err)
	}
	var n int
	if err := s.db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM tuf_target_chunks WHERE path = ?", "t/f").Scan(&n); err != nil || n != 1 {
		t.Errorf("chunks of the replaced target: %d, %v; want 1", n, err)
	}
}

// TestTargetChunksMigrationSplitsTargets: targets stored whole before
// migration 0016 are split into chunks by it and read back exactly
// (both dialects).
func TestTargetChunksMigrationSplitsTargets(t *testing.T) {
	ctx := t.Context()
	loc := location(t)
	d, closeDB := openAtMigration(t, loc, "_tuf_target_chunks.sql")
	targets := map[string][]byte{}
	for i, n := range targetSizes {
		p := "t/" + string(rune('a'+i))
		targets[p] = randomBytes(n, uint64(i)+100)
		if _, err := d.w.ExecContext(ctx, "INSERT INTO tuf_targets (path, data, updated_at) VALUES (?, ?, 1)", p, targets[p]); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()
	s := openDir(t, loc)
	for path, want := range targets {
		if got := readTarget(t, s, path); !bytes.Equal(got, want) {
			t.Errorf("%s after the migration: %d bytes differ from the %d stored", path, len(got), len(want))
		}
	}
	var n int
	if err := s.db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM tuf_target_chunks").Scan(&n); err != nil || n != 0+1+1+1+2+3 {
		t.Errorf("chunks after the migration: %d, %v; want 8", n, err)
	}
}

// openAtMigration opens the database at loc with the migrations before
// the one whose name ends in suffix applied; closeDB closes it.
func openAtMigration(t *testing.T, loc, suffix string) (d *db, closeDB func()) {
	t.Helper()
	ctx := t.Context()
	files, dir := migrationFiles, "migrations"
	if IsPostgresURL(loc) {
		files, dir = pgMigrationFiles, "migrations_pg"
		pc, err := pgx.ParseConfig(loc)
		if err != nil {
			t.Fatal(err)
		}
		p := sql.OpenDB(rebindConnector{stdlib.GetConnector(*pc)})
		d = &db{w: p, r: p, pg: true}
	} else {
		path, err := prepareFile(loc)
		if err != nil {
			t.Fatal(err)
		}
		w, err := openPool(ctx, path, writerParams(), 1)
		if err != nil {
			t.Fatal(err)
		}
		d = &db{w: w, r: w}
	}
	ms, err := loadMigrations(files, dir)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return strings.HasSuffix(m.name, suffix) })
	if i < 0 {
		t.Fatalf("no migration %s", suffix)
	}
	if err := applyMigrations(ctx, d, ms[:i]); err != nil {
		t.Fatal(err)
	}
	return d, func() {
		if err := d.w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
