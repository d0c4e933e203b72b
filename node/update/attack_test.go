package update

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// forge rewrites the metadata file name in files with fn and signs it
// with key, as an attacker holding key (or none: nil leaves it unsigned).
func forge[T metadata.Roles](t *testing.T, files map[string][]byte, name string, key ed25519.PrivateKey, fn func(*metadata.Metadata[T])) {
	t.Helper()
	m, err := new(metadata.Metadata[T]).FromBytes(files["metadata/"+name])
	if err != nil {
		t.Fatalf("forge %s: %v", name, err)
	}
	fn(m)
	m.ClearSignatures()
	if key != nil {
		s, err := signature.LoadSigner(key, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := m.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	files["metadata/"+name] = b
}

const fwDir = "fw/cam"

func fwPath(v string) string { return fwDir + "/fw-" + v + ".bin" }

func assign(v string) wire.UpdateAssignment {
	return wire.UpdateAssignment{Rollout: 7, Target: fwPath(v), Kind: wire.UpdateKindArtifact, Version: v}
}

// attackEnv is one attack's world: the admin's repository (signed 1.0.0,
// 2.0.0, then 3.0.0), what it served at 1.0.0 (old), the server the
// attacker controls, and a device that installed 2.0.0.
type attackEnv struct {
	r   *fleetRepo
	old map[string][]byte
	s   *server
	dev *device
}

// signV3 signs firmware 3.0.0 into the repository, as the fleet's admin
// would, before an attack alters what the server serves.
func (e attackEnv) signV3(t *testing.T) {
	t.Helper()
	e.r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), artifact("3.0.0"), time.Now())
}

// TestDeviceRefusesTUFAttacks replays every attack class TUF names
// against the device (arbitrary install, endless data, unsigned and
// wrongly signed metadata, freeze, rollback of each role, fast-forward,
// mix-and-match) and the wrong hardware, model and version: each is
// refused and nothing is installed.
func TestDeviceRefusesTUFAttacks(t *testing.T) {
	for _, tt := range []struct {
		name string
		// attack changes what is served (and signs, as the admin or the
		// attacker) and returns the assignment the device is given.
		attack func(t *testing.T, e attackEnv) wire.UpdateAssignment
		want   string
	}{
		{"arbitrary install: target altered", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			evil := bytes.Clone(files["targets/"+fwPath("3.0.0")])
			copy(evil, "#!/bin/sh rm -rf /")
			files["targets/"+fwPath("3.0.0")] = evil
			e.s.set(files)
			return assign("3.0.0")
		}, "altered"},
		{"endless data: target longer than signed", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			files["targets/"+fwPath("3.0.0")] = append(files["targets/"+fwPath("3.0.0")], bytes.Repeat([]byte{0}, 1<<20)...)
			e.s.set(files)
			return assign("3.0.0")
		}, "more than the signed"},
		{"endless data: timestamp", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			files["metadata/timestamp.json"] = append(files["metadata/timestamp.json"], bytes.Repeat([]byte(" "), 1<<20)...)
			e.s.set(files)
			return assign("3.0.0")
		}, "longer than"},
		{"unsigned targets", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			forge(t, files, "3.targets.json", nil, func(*metadata.Metadata[metadata.TargetsType]) {})
			e.s.set(files)
			return assign("3.0.0")
		}, "signature"},
		{"targets signed by a key the root does not list", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			_, mine, _ := ed25519.GenerateKey(nil)
			forge(t, files, "3.targets.json", mine, func(*metadata.Metadata[metadata.TargetsType]) {})
			e.s.set(files)
			return assign("3.0.0")
		}, "signature"},
		{"freeze: expired timestamp", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), artifact("3.0.0"), time.Now().Add(-8*24*time.Hour))
			e.s.set(e.r.files(t))
			return assign("3.0.0")
		}, "expired"},
		{"rollback: timestamp", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			files["metadata/timestamp.json"] = e.old["metadata/timestamp.json"]
			e.s.set(files)
			return assign("3.0.0")
		}, "version"},
		{"rollback: snapshot (timestamp key stolen)", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			files := e.r.files(t)
			forge(t, files, "timestamp.json", e.r.key(t, metadata.TIMESTAMP), func(m *metadata.Metadata[metadata.TimestampType]) {
				m.Signed.Version++
				m.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
			})
			e.s.set(files)
			return assign("2.0.0")
		}, "version"},
		{"rollback: targets (timestamp and snapshot keys stolen)", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			files := e.r.files(t)
			forge(t, files, "2.snapshot.json", e.r.key(t, metadata.SNAPSHOT), func(m *metadata.Metadata[metadata.SnapshotType]) {
				m.Signed.Version = 3
				m.Signed.Meta["targets.json"] = metadata.MetaFile(1)
			})
			files["metadata/3.snapshot.json"] = files["metadata/2.snapshot.json"]
			forge(t, files, "timestamp.json", e.r.key(t, metadata.TIMESTAMP), func(m *metadata.Metadata[metadata.TimestampType]) {
				m.Signed.Version++
				m.Signed.Meta["snapshot.json"] = metadata.MetaFile(3)
			})
			e.s.set(files)
			return assign("1.0.0")
		}, "version"},
		{"rollback: root", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			if err := release.Rotate(e.r.keys, e.r.repo, metadata.ROOT, release.DefaultExpiry(), time.Now()); err != nil {
				t.Fatal(err)
			}
			e.s.set(e.r.files(t))
			if err := e.dev.u.Apply(t.Context(), assign("2.0.0")); err != nil { // learns root 2
				t.Fatal(err)
			}
			e.signV3(t)
			files := e.r.files(t)
			files["metadata/3.root.json"] = e.old["metadata/1.root.json"]
			e.s.set(files)
			return assign("3.0.0")
		}, "root"},
		{"fast-forward: targets version the snapshot does not name (targets key stolen)", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.r.sign(t, fwPath("2.5.0"), firmware("2.5.0"), artifact("2.5.0"), time.Now())
			files := e.r.files(t)
			forge(t, files, "3.targets.json", e.r.key(t, metadata.TARGETS), func(m *metadata.Metadata[metadata.TargetsType]) {
				m.Signed.Version = 99
				tf, _ := metadata.TargetFile().FromBytes(fwPath("3.0.0"), []byte("evil"), "sha256")
				tf.Custom, _ = artifact("3.0.0").Marshal()
				m.Signed.Targets[fwPath("3.0.0")] = tf
			})
			files["targets/"+fwPath("3.0.0")] = []byte("evil")
			e.s.set(files)
			return assign("3.0.0")
		}, "version"},
		{"mix-and-match: old targets under the current name", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			e.signV3(t)
			files := e.r.files(t)
			files["metadata/3.targets.json"] = e.old["metadata/1.targets.json"]
			e.s.set(files)
			return assign("1.0.0")
		}, "version"},
		{"wrong hardware", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			c := artifact("3.0.0")
			c.GOARCH = "riscv64"
			e.r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), c, time.Now())
			e.s.set(e.r.files(t))
			return assign("3.0.0")
		}, "built for linux/riscv64"},
		{"wrong model", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			c := artifact("3.0.0")
			c.Model = "doorbell"
			e.r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), c, time.Now())
			e.s.set(e.r.files(t))
			return assign("3.0.0")
		}, "model"},
		{"older than what runs", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			return assign("1.0.0")
		}, "older"},
		{"not in the signed targets", func(t *testing.T, e attackEnv) wire.UpdateAssignment {
			files := e.r.files(t)
			files["targets/"+fwPath("9.0.0")] = []byte("evil")
			e.s.set(files)
			return assign("9.0.0")
		}, "not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := attackEnv{r: newFleetRepo(t), s: newServer(t)}
			e.r.sign(t, fwPath("1.0.0"), firmware("1.0.0"), artifact("1.0.0"), time.Now())
			e.old = e.r.files(t)
			e.r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
			e.s.set(e.r.files(t))
			e.dev = newDevice(t, e.r, e.s, "1.0.0", camera)
			if err := e.dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
				t.Fatal(err)
			}
			if r := e.s.last(t); r.State != wire.UpdateHealthy {
				t.Fatalf("the good update: %+v", r)
			}
			os.Remove(e.dev.installed)
			a := tt.attack(t, e)
			if err := e.dev.u.Apply(t.Context(), a); err != nil {
				t.Fatalf("Apply: %v (want a final failed report)", err)
			}
			r := e.s.last(t)
			if r.State != wire.UpdateFailed || !strings.Contains(r.Reason, "refused") || !strings.Contains(r.Reason, tt.want) {
				t.Errorf("report %s %q; want failed, refused, %q", r.State, r.Reason, tt.want)
			}
			if _, err := os.Stat(e.dev.installed); err == nil {
				t.Error("the attack's target was installed")
			}
		})
	}
}

// TestDeviceInstallsSignedRollback installs an older version the admin
// signed as a rollback, and reports the install command's output.
func TestDeviceInstallsSignedRollback(t *testing.T) {
	r, s := newFleetRepo(t), newServer(t)
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
	s.set(r.files(t))
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	c := artifact("1.5.0")
	c.Rollback = true
	c.Install += " && echo installed $WARD_UPDATE_VERSION"
	r.sign(t, fwPath("1.5.0"), firmware("1.5.0"), c, time.Now())
	s.set(r.files(t))
	if err := dev.u.Apply(t.Context(), assign("1.5.0")); err != nil {
		t.Fatal(err)
	}
	if rep := s.last(t); rep.State != wire.UpdateHealthy || rep.Running != "1.5.0" || !strings.Contains(rep.Reason, "installed 1.5.0") {
		t.Fatalf("report %+v", rep)
	}
	if b, _ := os.ReadFile(dev.installed); !bytes.Equal(b, firmware("1.5.0")) {
		t.Fatal("1.5.0 not installed")
	}
}

// TestArtifactInstallFailureReported reports a failing install command's
// exit status and output tail.
func TestArtifactInstallFailureReported(t *testing.T) {
	r, s := newFleetRepo(t), newServer(t)
	c := artifact("2.0.0")
	c.Install = "echo flash failed: bad block 7 >&2; exit 3"
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), c, time.Now())
	s.set(r.files(t))
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	rep := s.last(t)
	if rep.State != wire.UpdateFailed || !strings.Contains(rep.Reason, "exit status 3") || !strings.Contains(rep.Reason, "bad block 7") {
		t.Fatalf("report %+v", rep)
	}
}

// TestInterruptedDownloadResumes answers the first target request 503
// with Retry-After and cuts the next answer half-way: the device waits,
// asks for the rest with a Range request, verifies and installs.
func TestInterruptedDownloadResumes(t *testing.T) {
	r, s := newFleetRepo(t), newServer(t)
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
	s.set(r.files(t))
	s.cutTargets, s.busy = 1, 1
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	if rep := s.last(t); rep.State != wire.UpdateHealthy {
		t.Fatalf("report %+v", rep)
	}
	if b, _ := os.ReadFile(dev.installed); !bytes.Equal(b, firmware("2.0.0")) {
		t.Fatal("not installed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	half := len(firmware("2.0.0")) / 2
	if len(s.ranges) != 3 || s.ranges[1] != "" || s.ranges[2] != fmt.Sprintf("bytes=%d-", half) {
		t.Fatalf("target requests' ranges %q; want a refused one, a whole one cut half-way, then bytes=%d-", s.ranges, half)
	}
}

// TestDeviceFollowsKeyRotation rotates the timestamp key, then the root
// key: the device, provisioned with the first root, follows both
// rotations and installs what the new keys sign.
func TestDeviceFollowsKeyRotation(t *testing.T) {
	r, s := newFleetRepo(t), newServer(t)
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
	s.set(r.files(t))
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{metadata.TIMESTAMP, metadata.ROOT} {
		if err := release.Rotate(r.keys, r.repo, role, release.DefaultExpiry(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), artifact("3.0.0"), time.Now())
	s.set(r.files(t))
	if err := dev.u.Apply(t.Context(), assign("3.0.0")); err != nil {
		t.Fatal(err)
	}
	if rep := s.last(t); rep.State != wire.UpdateHealthy || rep.Running != "3.0.0" {
		t.Fatalf("report %+v", rep)
	}
}

// TestStalledDownloadResumes sends half the target and then nothing: the
// device gives up on the silent answer and resumes from where it was.
func TestStalledDownloadResumes(t *testing.T) {
	r, s := newFleetRepo(t), newServer(t)
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
	s.set(r.files(t))
	s.stallTargets = 1
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	if rep := s.last(t); rep.State != wire.UpdateHealthy {
		t.Fatalf("report %+v", rep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var from int
	if len(s.ranges) != 2 || s.ranges[0] != "" {
		t.Fatalf("target requests' ranges %q; want a whole one that stalled, then the rest", s.ranges)
	}
	if _, err := fmt.Sscanf(s.ranges[1], "bytes=%d-", &from); err != nil || from <= 0 || from > len(firmware("2.0.0"))/2 {
		t.Fatalf("the second request's range %q; want from what the first brought", s.ranges[1])
	}
}

// TestDeviceRefusesTargetsBelowThreshold: with a root that wants 2 of 2
// targets keys, targets metadata signed by both is installed, and the
// next targets metadata signed by one of them (a single stolen key, or
// one key holder acting alone) is refused and nothing installed.
func TestDeviceRefusesTargetsBelowThreshold(t *testing.T) {
	r := &fleetRepo{keys: filepath.Join(t.TempDir(), "keys"), repo: filepath.Join(t.TempDir(), "repo")}
	q := map[string]release.Quorum{metadata.TARGETS: {Keys: 2, Threshold: 2}}
	if err := release.KeygenQuorum(r.keys, r.repo, q, release.DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	s := newServer(t)
	r.sign(t, fwPath("2.0.0"), firmware("2.0.0"), artifact("2.0.0"), time.Now())
	s.set(r.files(t))
	dev := newDevice(t, r, s, "1.0.0", camera)
	if err := dev.u.Apply(t.Context(), assign("2.0.0")); err != nil {
		t.Fatal(err)
	}
	if rep := s.last(t); rep.State != wire.UpdateHealthy {
		t.Fatalf("2.0.0 signed by 2 of 2 targets keys: %+v", rep)
	}
	os.Remove(dev.installed)
	r.sign(t, fwPath("3.0.0"), firmware("3.0.0"), artifact("3.0.0"), time.Now())
	files := r.files(t)
	forge(t, files, "2.targets.json", r.key(t, metadata.TARGETS), func(*metadata.Metadata[metadata.TargetsType]) {})
	s.set(files)
	if err := dev.u.Apply(t.Context(), assign("3.0.0")); err != nil {
		t.Fatalf("Apply: %v (want a final failed report)", err)
	}
	if rep := s.last(t); rep.State != wire.UpdateFailed || !strings.Contains(rep.Reason, "refused") || !strings.Contains(rep.Reason, "signatures") {
		t.Errorf("3.0.0 signed by 1 of 2 targets keys: %s %q; want failed, refused, signatures", rep.State, rep.Reason)
	}
	if _, err := os.Stat(dev.installed); err == nil {
		t.Error("the target signed below the threshold was installed")
	}
}
