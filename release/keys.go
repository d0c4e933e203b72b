package release

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Roles are TUF's four top-level roles, root first.
var Roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// ErrKeysExist refuses to overwrite a key directory's keys.
var ErrKeysExist = errors.New("the key directory already holds keys")

// keyFile is where role's private key lives in the key directory.
func keyFile(dir, role string) string { return filepath.Join(dir, role+".key") }

// newKey makes an Ed25519 key for role and writes it to dir, readable by
// its owner only; an existing file is never overwritten.
func newKey(dir, role string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", role, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", role, err)
	}
	f, err := os.OpenFile(keyFile(dir, role), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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

// loadKey reads role's private key from dir.
func loadKey(dir, role string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(keyFile(dir, role))
	if err != nil {
		return nil, fmt.Errorf("read %s key: %w", role, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read %s key: not a PEM private key", role)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read %s key: %w", role, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read %s key: not an Ed25519 key", role)
	}
	return priv, nil
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
