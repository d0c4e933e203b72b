package update

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/node/privfile"
)

// State files in the agent's state directory.
const (
	// rootFile is the root the device was provisioned with.
	rootFile = "update-root.json"
	// tufDir holds go-tuf's trusted metadata, the newest root included.
	tufDir = "tuf"
	// maxRootBytes bounds a root file.
	maxRootBytes = 512 << 10
)

// InstallRoot makes the root metadata in file the device's trust anchor
// for updates: it must parse as TUF root metadata signed by its own root
// keys. A device keeps the newest root it verified since (tuf/root.json),
// so provisioning again with an older root changes nothing once updates
// ran.
func InstallRoot(stateDir, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("update root: %w", err)
	}
	root, err := new(metadata.Metadata[metadata.RootType]).FromBytes(b)
	if err != nil {
		return fmt.Errorf("update root %s: %w", file, err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("update root %s: not signed by its root keys: %w", file, err)
	}
	if err := privfile.Write(stateDir, rootFile, b); err != nil {
		return fmt.Errorf("update root: %w", err)
	}
	return nil
}

// trustedRoot returns the newest root the device trusts: the one go-tuf
// last verified, else the provisioned one; ErrNoRoot when neither exists.
func trustedRoot(stateDir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, tufDir, "root.json"))
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	b, err = privfile.Read(stateDir, rootFile, maxRootBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoRoot
	}
	if err != nil {
		return nil, fmt.Errorf("read update root: %w", err)
	}
	return b, nil
}
