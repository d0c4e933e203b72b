package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
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
	if got, err := s.ReleaseTarget(ctx, "ward/a"); err != nil || !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("ReleaseTarget = %v, %v", got, err)
	}
	if _, err := s.ReleaseTarget(ctx, "ward/b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing target: %v, want ErrNotFound", err)
	}
	if _, err := s.ReleaseMetadata(ctx, "2.root.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing metadata: %v, want ErrNotFound", err)
	}
}
