package release

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/wire"
)

func testRepo(t *testing.T) (keys, repo string) {
	t.Helper()
	keys, repo = filepath.Join(t.TempDir(), "keys"), filepath.Join(t.TempDir(), "repo")
	if err := Keygen(keys, repo, DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	return keys, repo
}

func testTarget(t *testing.T, v string) *Target {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fw")
	if err := os.WriteFile(f, []byte("firmware "+v), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Target{Path: "fw/cam/fw-" + v, File: f, Custom: Custom{Version: v, Kind: wire.UpdateKindArtifact, Install: "true"}}
}

// TestKeygenKeysOwnerOnly writes the four role keys readable by their
// owner only, and never overwrites them.
func TestKeygenKeysOwnerOnly(t *testing.T) {
	keys, repo := testRepo(t)
	for _, r := range Roles {
		fi, err := os.Stat(keyFile(keys, r))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s key mode %v, want 0600", r, fi.Mode().Perm())
		}
	}
	if err := Keygen(keys, repo, DefaultExpiry(), time.Now()); !errors.Is(err, ErrKeysExist) {
		t.Fatalf("second keygen: %v, want ErrKeysExist", err)
	}
}

// TestSignRefusesWrongKey refuses to sign with a key file the root does
// not list, and writes nothing.
func TestSignRefusesWrongKey(t *testing.T) {
	keys, repo := testRepo(t)
	other, _ := testRepo(t)
	if err := os.Rename(keyFile(other, metadata.TARGETS), keyFile(keys, metadata.TARGETS)); err != nil {
		t.Fatal(err)
	}
	if err := Sign(keys, repo, testTarget(t, "1.0.0"), DefaultExpiry(), time.Now()); err == nil {
		t.Fatal("signed with a targets key the root does not list")
	}
	if _, err := latestTargets(repo); err == nil {
		t.Fatal("targets metadata written")
	}
}

// TestSignAndRotate signs targets (versions go up, targets accumulate)
// and rotates a key: the new root lists the new key only and verifies
// under the old root; the re-signed metadata verifies under the new one.
func TestSignAndRotate(t *testing.T) {
	keys, repo := testRepo(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if err := Sign(keys, repo, testTarget(t, v), DefaultExpiry(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tg, err := latestTargets(repo)
	if err != nil || tg.Signed.Version != 2 || len(tg.Signed.Targets) != 2 {
		t.Fatalf("targets %+v %v", tg, err)
	}
	old, _ := latestRoot(repo)
	if err := Rotate(keys, repo, metadata.TIMESTAMP, DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	root, err := latestRoot(repo)
	if err != nil || root.Signed.Version != 2 {
		t.Fatalf("root %v %v", root, err)
	}
	if err := old.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Errorf("root 2 does not verify under root 1: %v", err)
	}
	ts, err := new(metadata.Metadata[metadata.TimestampType]).FromFile(filepath.Join(repo, MetadataDir, "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(metadata.TIMESTAMP, ts); err != nil {
		t.Errorf("the re-signed timestamp does not verify under root 2: %v", err)
	}
	if err := old.VerifyDelegate(metadata.TIMESTAMP, ts); err == nil {
		t.Error("the re-signed timestamp verifies under the retired key")
	}
}

// TestVersionCompare orders versions, a pre-release before its release.
func TestVersionCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0}, {"1.0", "1.0.0", 0}, {"v1.2.0", "1.10.0", -1}, {"2.0.0", "1.99.99", 1},
		{"1.4.0-rc1", "1.4.0", -1}, {"1.4.0-rc2", "1.4.0-rc1", 1},
	} {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != tt.want {
			t.Errorf("%s vs %s = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{"", "dev", "1.x", "1..2"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

// TestKeygenThresholdSignsWithQuorum: keygen with 2 of 3 targets keys and
// 2 of 2 root keys writes every key and the thresholds into the root;
// sign with one targets key is refused (nothing written), with two it
// signs, and the targets metadata carries both signatures.
func TestKeygenThresholdSignsWithQuorum(t *testing.T) {
	keys, repo := filepath.Join(t.TempDir(), "keys"), filepath.Join(t.TempDir(), "repo")
	q := map[string]Quorum{metadata.ROOT: {Keys: 2, Threshold: 2}, metadata.TARGETS: {Keys: 3, Threshold: 2}}
	if err := KeygenQuorum(keys, repo, q, DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	root, err := latestRoot(repo)
	if err != nil {
		t.Fatal(err)
	}
	for role, want := range map[string]Quorum{metadata.ROOT: {2, 2}, metadata.TARGETS: {3, 2}, metadata.SNAPSHOT: {1, 1}, metadata.TIMESTAMP: {1, 1}} {
		r := root.Signed.Roles[role]
		if got := (Quorum{len(r.KeyIDs), r.Threshold}); got != want {
			t.Errorf("%s: %+v, want %+v", role, got, want)
		}
		files, err := roleKeyFiles(keys, role)
		if err != nil || len(files) != want.Keys {
			t.Errorf("%s key files %v, %v; want %d", role, files, err, want.Keys)
		}
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil || len(root.Signatures) != 2 {
		t.Errorf("1.root.json: %d signatures, %v", len(root.Signatures), err)
	}
	online := []string{keyFile(keys, metadata.SNAPSHOT), keyFile(keys, metadata.TIMESTAMP)}
	one := append([]string{keyFileN(keys, metadata.TARGETS, 2)}, online...)
	if err := SignWithKeys(one, repo, testTarget(t, "1.0.0"), DefaultExpiry(), time.Now()); !errors.Is(err, ErrBelowThreshold) {
		t.Fatalf("sign with 1 of 2 targets keys: %v, want ErrBelowThreshold", err)
	}
	if _, err := latestTargets(repo); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused sign wrote targets: %v", err)
	}
	two := append([]string{keyFileN(keys, metadata.TARGETS, 3), keyFile(keys, metadata.TARGETS)}, online...)
	if err := SignWithKeys(two, repo, testTarget(t, "1.0.0"), DefaultExpiry(), time.Now()); err != nil {
		t.Fatalf("sign with 2 of 2 targets keys: %v", err)
	}
	targets, err := latestTargets(repo)
	if err != nil || len(targets.Signatures) != 2 {
		t.Fatalf("targets: %v, %v; want 2 signatures", targets, err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
		t.Errorf("targets under the root: %v", err)
	}
	otherKeys, _ := testRepo(t)
	if err := SignWithKeys([]string{keyFile(otherKeys, metadata.TARGETS)}, repo, nil, DefaultExpiry(), time.Now()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("sign with a key file of another fleet: %v, want ErrUnknownKey", err)
	}
}

// TestRotateKeepsThreshold: rotating a role of 2-of-3 keys, then the root
// of 2-of-2, gives each role as many new keys with the same threshold,
// and each new root meets both the old root's threshold and its own.
func TestRotateKeepsThreshold(t *testing.T) {
	keys, repo := filepath.Join(t.TempDir(), "keys"), filepath.Join(t.TempDir(), "repo")
	q := map[string]Quorum{metadata.ROOT: {Keys: 2, Threshold: 2}, metadata.TARGETS: {Keys: 3, Threshold: 2}}
	if err := KeygenQuorum(keys, repo, q, DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := Sign(keys, repo, testTarget(t, "1.0.0"), DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{metadata.TARGETS, metadata.ROOT} {
		prev, err := latestRoot(repo)
		if err != nil {
			t.Fatal(err)
		}
		if err := Rotate(keys, repo, role, DefaultExpiry(), time.Now()); err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
		next, err := latestRoot(repo)
		if err != nil {
			t.Fatal(err)
		}
		was, is := prev.Signed.Roles[role], next.Signed.Roles[role]
		if is.Threshold != was.Threshold || len(is.KeyIDs) != len(was.KeyIDs) || slices.ContainsFunc(is.KeyIDs, func(id string) bool { return slices.Contains(was.KeyIDs, id) }) {
			t.Errorf("rotate %s: %d keys threshold %d (%v), was %d threshold %d (%v); want as many new keys, same threshold",
				role, len(is.KeyIDs), is.Threshold, is.KeyIDs, len(was.KeyIDs), was.Threshold, was.KeyIDs)
		}
		for _, by := range []*metadata.Metadata[metadata.RootType]{prev, next} {
			if err := by.VerifyDelegate(metadata.ROOT, next); err != nil {
				t.Errorf("rotate %s: root %d under root %d: %v", role, next.Signed.Version, by.Signed.Version, err)
			}
		}
	}
	targets, err := latestTargets(repo)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := latestRoot(repo)
	if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
		t.Errorf("targets re-signed after the rotations: %v", err)
	}
}
