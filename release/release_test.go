package release

import (
	"errors"
	"os"
	"path/filepath"
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
