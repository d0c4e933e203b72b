package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/wire"
)

// A repository directory holds MetadataDir (1.root.json, N.targets.json,
// N.snapshot.json, timestamp.json: consistent snapshots) and TargetsDir
// (the targets by path), as the coordinator serves them under
// wire.PathTUF.
const (
	MetadataDir = "metadata"
	TargetsDir  = "targets"
)

// Expiry says how long each role's metadata lives from its signing.
type Expiry struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

// DefaultExpiry: a year for root, 90 days for targets, 30 for snapshot and
// 7 for timestamp, so a frozen repository is noticed within a week.
func DefaultExpiry() Expiry {
	const day = 24 * time.Hour
	return Expiry{Root: 365 * day, Targets: 90 * day, Snapshot: 30 * day, Timestamp: 7 * day}
}

// Target is a file to sign into the repository.
type Target struct {
	// Path is the target's path in the repository ("ward/linux-arm64/ward-1.4.0").
	Path string
	// File is the file on the admin's disk.
	File string
	// Custom is its custom metadata.
	Custom Custom
}

// CheckTargetPath refuses a target path that is not a clean relative path
// of letters, digits and ._+- (no "..", no leading dot).
func CheckTargetPath(p string) error { return wire.CheckTUFTargetPath(p) }

// Quorum is how many keys a role has and how many of them must sign its
// metadata (TUF's threshold): 1 of 1 unless said otherwise.
type Quorum struct{ Keys, Threshold int }

// check refuses a quorum that cannot be met or needs no key.
func (q Quorum) check(role string) error {
	if q.Threshold < 1 || q.Keys < q.Threshold {
		return fmt.Errorf("%s: a threshold of %d of %d keys; want 1 <= threshold <= keys", role, q.Threshold, q.Keys)
	}
	return nil
}

// Keygen makes the four roles' keys in keysDir, one each (files the
// owner alone reads, never overwritten), and the repository's first root,
// repoDir/metadata/1.root.json: the file devices are provisioned with
// (`ward node --update-root`).
func Keygen(keysDir, repoDir string, exp Expiry, now time.Time) error {
	return KeygenQuorum(keysDir, repoDir, nil, exp, now)
}

// KeygenQuorum is Keygen with quorums by role (a role not named has one
// key, threshold 1): role.key, role-2.key, … role-N.key, and the role's
// threshold in the root. The root is signed by every root key.
func KeygenQuorum(keysDir, repoDir string, quorums map[string]Quorum, exp Expiry, now time.Time) error {
	for role, q := range quorums {
		if !slices.Contains(Roles, role) {
			return fmt.Errorf("keygen: unknown role %q", role)
		}
		if err := q.check(role); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
	}
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	for _, r := range Roles {
		if _, err := os.Stat(keyFile(keysDir, r)); err == nil {
			return fmt.Errorf("keygen: %s: %w", keysDir, ErrKeysExist)
		}
	}
	root := metadata.Root(now.Add(exp.Root).UTC())
	ring := keyring{}
	for _, r := range Roles {
		q, ok := quorums[r]
		if !ok {
			q = Quorum{Keys: 1, Threshold: 1}
		}
		keys, err := addNewKeys(root, keysDir, r, q.Keys)
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		ring[r] = keys
		root.Signed.Roles[r].Threshold = q.Threshold
	}
	if err := signRole(root, ring, metadata.ROOT); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(repoDir, MetadataDir), 0o755); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	return writeMeta(repoDir, "1.root.json", root)
}

// addNewKeys makes role's keys 1..n in keysDir and lists them in root.
func addNewKeys(root *metadata.Metadata[metadata.RootType], keysDir, role string, n int) ([]ed25519Key, error) {
	var keys []ed25519Key
	for i := 1; i <= n; i++ {
		priv, err := newKey(keysDir, role, i)
		if err != nil {
			return nil, err
		}
		k, err := tufKey(priv)
		if err != nil {
			return nil, err
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return nil, fmt.Errorf("add %s key: %w", role, err)
		}
		keys = append(keys, priv)
	}
	return keys, nil
}

// Rotate replaces role's keys, as many as the root lists, keeping its
// threshold: new key files (the old ones kept as role.key.N and
// role-i.key.N, N the root version that retired them) and a new root
// version listing them, signed by the current root keys, and for a root
// rotation by the new ones too, so devices trusting either root accept
// it. The other roles' metadata is re-signed (see Sign) so that it
// verifies under the new root.
func Rotate(keysDir, repoDir, role string, exp Expiry, now time.Time) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("rotate: unknown role %q", role)
	}
	root, err := latestRoot(repoDir)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	old, err := dirKeyring(keysDir, metadata.ROOT)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	if have, need := len(old[metadata.ROOT]), root.Signed.Roles[metadata.ROOT].Threshold; have < need {
		return fmt.Errorf("rotate %s: %d root keys in %s, the root's threshold is %d: %w", role, have, keysDir, need, ErrBelowThreshold)
	}
	if err := retireKeys(keysDir, role, root.Signed.Version); err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	n := len(root.Signed.Roles[role].KeyIDs)
	for _, id := range slices.Clone(root.Signed.Roles[role].KeyIDs) {
		if err := root.Signed.RevokeKey(id, role); err != nil {
			return fmt.Errorf("rotate %s: revoke key %s: %w", role, id, err)
		}
	}
	fresh, err := addNewKeys(root, keysDir, role, n)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	root.Signed.Version++
	root.Signed.Expires = now.Add(exp.Root).UTC()
	root.ClearSignatures()
	signers := old[metadata.ROOT]
	if role == metadata.ROOT {
		signers = append(signers, fresh...)
	}
	for _, k := range signers {
		if err := signKey(root, k); err != nil {
			return fmt.Errorf("rotate %s: %w", role, err)
		}
	}
	if err := checkRootChain(repoDir, root); err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	name := strconv.FormatInt(root.Signed.Version, 10) + ".root.json"
	if err := writeMeta(repoDir, name, root); err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	if _, err := latestTargets(repoDir); errors.Is(err, fs.ErrNotExist) {
		return nil // nothing signed yet
	}
	return Sign(keysDir, repoDir, nil, exp, now)
}

// checkRootChain checks that next, the root after the latest, meets the
// latest root's threshold and its own, as a device checks it.
func checkRootChain(repoDir string, next *metadata.Metadata[metadata.RootType]) error {
	cur, err := latestRoot(repoDir)
	if err != nil {
		return err
	}
	for _, by := range []*metadata.Metadata[metadata.RootType]{cur, next} {
		if err := by.VerifyDelegate(metadata.ROOT, next); err != nil {
			return fmt.Errorf("root version %d under root version %d: %w: %w", next.Signed.Version, by.Signed.Version, ErrBelowThreshold, err)
		}
	}
	return nil
}

// retireKeys renames role's key files in keysDir to file.version.
func retireKeys(keysDir, role string, version int64) error {
	files, err := roleKeyFiles(keysDir, role)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(f, f+"."+strconv.FormatInt(version, 10)); err != nil {
			return err
		}
	}
	return nil
}

// Sign adds t (nil: none) to the targets role and re-signs targets,
// snapshot and timestamp, each a version up with a fresh expiry; t's file
// is copied to repoDir/targets/<path>. Each role's signature is checked
// against the current root, so a wrong key file is refused before
// anything is written. With t nil it renews the expiries (run it before
// the timestamp's, a week by default, runs out). It signs with every key
// of each role in keysDir.
func Sign(keysDir, repoDir string, t *Target, exp Expiry, now time.Time) error {
	return sign(repoDir, t, exp, now, func(*metadata.RootType) (keyring, error) {
		return dirKeyring(keysDir, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP)
	})
}

// SignWithKeys is Sign with the key files given rather than a key
// directory, as the holders of a role's keys bring them: each file signs
// the roles the current root lists it for, and each role's signatures
// must meet its threshold.
func SignWithKeys(keyFiles []string, repoDir string, t *Target, exp Expiry, now time.Time) error {
	return sign(repoDir, t, exp, now, func(root *metadata.RootType) (keyring, error) {
		return fileKeyring(root, keyFiles)
	})
}

// sign is Sign with the keys ringOf gives for the current root.
func sign(repoDir string, t *Target, exp Expiry, now time.Time, ringOf func(*metadata.RootType) (keyring, error)) error {
	root, err := latestRoot(repoDir)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	ring, err := ringOf(&root.Signed)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	targets, err := latestTargets(repoDir)
	if errors.Is(err, fs.ErrNotExist) {
		targets, err = metadata.Targets(now), nil
		targets.Signed.Version = 0
	}
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	var data []byte
	if t != nil {
		if data, err = addTarget(targets, t); err != nil {
			return fmt.Errorf("sign %s: %w", t.Path, err)
		}
	}
	targets.Signed.Version++
	targets.Signed.Expires = now.Add(exp.Targets).UTC()
	snap, err := nextSnapshot(repoDir, targets.Signed.Version, now.Add(exp.Snapshot))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	ts, err := nextTimestamp(repoDir, snap.Signed.Version, now.Add(exp.Timestamp))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if err := signChecked(root, ring, targets, snap, ts); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if t != nil {
		if err := writeTarget(repoDir, t.Path, data); err != nil {
			return fmt.Errorf("sign %s: %w", t.Path, err)
		}
	}
	if err := writeMeta(repoDir, fmt.Sprintf("%d.targets.json", targets.Signed.Version), targets); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if err := writeMeta(repoDir, fmt.Sprintf("%d.snapshot.json", snap.Signed.Version), snap); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return writeMeta(repoDir, "timestamp.json", ts)
}

// addTarget reads t's file and lists it in targets with its custom
// metadata; it returns the file's content.
func addTarget(targets *metadata.Metadata[metadata.TargetsType], t *Target) ([]byte, error) {
	if err := CheckTargetPath(t.Path); err != nil {
		return nil, err
	}
	if err := t.Custom.Check(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(t.File)
	if err != nil {
		return nil, err
	}
	tf, err := metadata.TargetFile().FromBytes(t.Path, data, "sha256")
	if err != nil {
		return nil, err
	}
	if tf.Custom, err = t.Custom.Marshal(); err != nil {
		return nil, err
	}
	targets.Signed.Targets[t.Path] = tf
	return data, nil
}

// nextSnapshot is the snapshot after the latest, listing targets version tv.
func nextSnapshot(repoDir string, tv int64, expires time.Time) (*metadata.Metadata[metadata.SnapshotType], error) {
	snap, err := latest[metadata.SnapshotType](repoDir, metadata.SNAPSHOT)
	if errors.Is(err, fs.ErrNotExist) {
		snap, err = metadata.Snapshot(expires), nil
		snap.Signed.Version = 0
	}
	if err != nil {
		return nil, err
	}
	snap.Signed.Version++
	snap.Signed.Expires = expires.UTC()
	snap.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metadata.MetaFile(tv)}
	return snap, nil
}

// nextTimestamp is the timestamp after the current, listing snapshot
// version sv.
func nextTimestamp(repoDir string, sv int64, expires time.Time) (*metadata.Metadata[metadata.TimestampType], error) {
	ts, err := new(metadata.Metadata[metadata.TimestampType]).FromFile(filepath.Join(repoDir, MetadataDir, "timestamp.json"))
	if errors.Is(err, fs.ErrNotExist) {
		ts, err = metadata.Timestamp(expires), nil
		ts.Signed.Version = 0
	}
	if err != nil {
		return nil, fmt.Errorf("read timestamp: %w", err)
	}
	ts.Signed.Version++
	ts.Signed.Expires = expires.UTC()
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metadata.MetaFile(sv)}
	return ts, nil
}

// signChecked signs the three online roles with their keys and checks each
// against root: enough valid signatures for the role's threshold.
func signChecked(root *metadata.Metadata[metadata.RootType], ring keyring,
	targets *metadata.Metadata[metadata.TargetsType], snap *metadata.Metadata[metadata.SnapshotType],
	ts *metadata.Metadata[metadata.TimestampType]) error {
	targets.ClearSignatures()
	snap.ClearSignatures()
	ts.ClearSignatures()
	if err := signRole(targets, ring, metadata.TARGETS); err != nil {
		return err
	}
	if err := signRole(snap, ring, metadata.SNAPSHOT); err != nil {
		return err
	}
	if err := signRole(ts, ring, metadata.TIMESTAMP); err != nil {
		return err
	}
	for role, m := range map[string]any{metadata.TARGETS: targets, metadata.SNAPSHOT: snap, metadata.TIMESTAMP: ts} {
		if err := root.VerifyDelegate(role, m); err != nil {
			return fmt.Errorf("the %s keys given (%d) do not meet the root's threshold of %d of its keys: %w: %w",
				role, len(ring[role]), root.Signed.Roles[role].Threshold, ErrBelowThreshold, err)
		}
	}
	return nil
}
