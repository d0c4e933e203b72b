package release

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ed25519Key is a role's private key.
type ed25519Key = ed25519.PrivateKey

// signKey appends priv's signature to m.
func signKey[T metadata.Roles](m *metadata.Metadata[T], priv ed25519Key) error {
	s, err := signerOf(priv)
	if err != nil {
		return err
	}
	if _, err := m.Sign(s); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// signRole signs m with every key of role that ring holds.
func signRole[T metadata.Roles](m *metadata.Metadata[T], ring keyring, role string) error {
	if len(ring[role]) == 0 {
		return fmt.Errorf("no %s key given", role)
	}
	for _, priv := range ring[role] {
		if err := signKey(m, priv); err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
	}
	return nil
}

// writeMeta writes m as repoDir/metadata/name.
func writeMeta[T metadata.Roles](repoDir, name string, m *metadata.Metadata[T]) error {
	b, err := m.ToBytes(true)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(repoDir, MetadataDir, name), b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// writeTarget copies a target's content to repoDir/targets/path.
func writeTarget(repoDir, path string, data []byte) error {
	p := filepath.Join(repoDir, TargetsDir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// latestVersion is the highest N of repoDir/metadata/N.role.json;
// fs.ErrNotExist when there is none.
func latestVersion(repoDir, role string) (int64, error) {
	ents, err := os.ReadDir(filepath.Join(repoDir, MetadataDir))
	if err != nil {
		return 0, fmt.Errorf("read repository: %w", err)
	}
	var best int64
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), "."+role+".json")
		if !ok {
			continue
		}
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > best {
			best = v
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no %s metadata in %s: %w", role, repoDir, fs.ErrNotExist)
	}
	return best, nil
}

// latest reads the highest version of role's metadata.
func latest[T metadata.Roles](repoDir, role string) (*metadata.Metadata[T], error) {
	v, err := latestVersion(repoDir, role)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d.%s.json", v, role)
	m, err := new(metadata.Metadata[T]).FromFile(filepath.Join(repoDir, MetadataDir, name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return m, nil
}

func latestRoot(repoDir string) (*metadata.Metadata[metadata.RootType], error) {
	return latest[metadata.RootType](repoDir, metadata.ROOT)
}

func latestTargets(repoDir string) (*metadata.Metadata[metadata.TargetsType], error) {
	return latest[metadata.TargetsType](repoDir, metadata.TARGETS)
}

// Files is a repository as published: metadata files by name, targets by
// path.
type Files struct {
	Metadata map[string][]byte
	Targets  map[string][]byte
}

// Load reads repoDir's metadata and the targets the latest targets
// metadata lists, or only those named in only (the others the
// coordinator already has).
func Load(repoDir string, only []string) (Files, error) {
	f := Files{Metadata: map[string][]byte{}, Targets: map[string][]byte{}}
	ents, err := os.ReadDir(filepath.Join(repoDir, MetadataDir))
	if err != nil {
		return f, fmt.Errorf("load repository: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if f.Metadata[e.Name()], err = os.ReadFile(filepath.Join(repoDir, MetadataDir, e.Name())); err != nil {
			return f, fmt.Errorf("load repository: %w", err)
		}
	}
	paths := only
	if len(paths) == 0 {
		targets, err := latestTargets(repoDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return f, fmt.Errorf("load repository: %w", err)
		}
		if targets != nil {
			for p := range targets.Signed.Targets {
				paths = append(paths, p)
			}
		}
	}
	for _, p := range paths {
		if err := CheckTargetPath(p); err != nil {
			return f, err
		}
		if f.Targets[p], err = os.ReadFile(filepath.Join(repoDir, TargetsDir, filepath.FromSlash(p))); err != nil {
			return f, fmt.Errorf("load target: %w", err)
		}
	}
	return f, nil
}
