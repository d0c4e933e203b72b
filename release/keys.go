package release

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Roles are TUF's four top-level roles, root first.
var Roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Errors of the release tools.
var (
	// ErrKeysExist refuses to overwrite a key directory's keys.
	ErrKeysExist = errors.New("the key directory already holds keys")
	// ErrUnknownKey is a key file the root lists for no role.
	ErrUnknownKey = errors.New("not a key of any role of the current root")
	// ErrBelowThreshold is metadata with fewer valid signatures than its
	// role's threshold.
	ErrBelowThreshold = errors.New("fewer valid signatures than the role's threshold")
)

// keyFile is where role's (first) private key lives in the key directory.
func keyFile(dir, role string) string { return keyFileN(dir, role, 1) }

// keyFileN is where role's key n (from 1) lives in the key directory:
// role.key for the first, role-n.key for the others.
func keyFileN(dir, role string, n int) string {
	if n == 1 {
		return filepath.Join(dir, role+".key")
	}
	return filepath.Join(dir, role+"-"+strconv.Itoa(n)+".key")
}

// roleKeyFiles lists role's key files in dir, in order: role.key, then
// role-2.key, role-3.key, … while they exist (retired keys, role.key.N,
// are not listed).
func roleKeyFiles(dir, role string) ([]string, error) {
	var out []string
	for n := 1; ; n++ {
		p := keyFileN(dir, role, n)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read %s key: %w", role, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read %s key: no %s in %s: %w", role, filepath.Base(keyFile(dir, role)), dir, fs.ErrNotExist)
	}
	return out, nil
}

// newKey makes role's Ed25519 key n (from 1) and writes it to dir,
// readable by its owner only; an existing file is never overwritten.
func newKey(dir, role string, n int) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", role, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", role, err)
	}
	f, err := os.OpenFile(keyFileN(dir, role, n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write %s key: %w", role, err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s key: %w", role, err)
	}
	return priv, nil
}

// loadKeyFile reads the private key in file.
func loadKeyFile(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read key %s: not a PEM private key", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read key %s: not an Ed25519 key", file)
	}
	return priv, nil
}

// keyring is the private keys at hand, by role.
type keyring map[string][]ed25519.PrivateKey

// dirKeyring loads every key of roles from the key directory.
func dirKeyring(dir string, roles ...string) (keyring, error) {
	ring := keyring{}
	for _, role := range roles {
		files, err := roleKeyFiles(dir, role)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			k, err := loadKeyFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", role, err)
			}
			ring[role] = append(ring[role], k)
		}
	}
	return ring, nil
}

// fileKeyring loads the key files given (as several key holders bring
// them) and files each under the roles root lists it for; a file root
// lists for no role is refused.
func fileKeyring(root *metadata.RootType, files []string) (keyring, error) {
	ring := keyring{}
	for _, f := range files {
		k, err := loadKeyFile(f)
		if err != nil {
			return nil, err
		}
		pub, err := tufKey(k)
		if err != nil {
			return nil, err
		}
		id, err := pub.ID()
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", f, err)
		}
		found := false
		for _, role := range Roles {
			if r := root.Roles[role]; r != nil && slices.Contains(r.KeyIDs, id) {
				ring[role], found = append(ring[role], k), true
			}
		}
		if !found {
			return nil, fmt.Errorf("key %s: %w", f, ErrUnknownKey)
		}
	}
	return ring, nil
}

// signerOf turns a private key into a TUF signer.
func signerOf(priv ed25519.PrivateKey) (signature.Signer, error) {
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("load signer: %w", err)
	}
	return s, nil
}

// tufKey is priv's public half as root.json lists it.
func tufKey(priv ed25519.PrivateKey) (*metadata.Key, error) {
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}
