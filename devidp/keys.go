package devidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// signingKey is the provider's ES256 key, made at start and never stored.
type signingKey struct {
	id  string
	key *ecdsa.PrivateKey
}

var (
	_ op.SigningKey = (*signingKey)(nil)
	_ op.Key        = publicKey{}
)

func newSigningKey() (*signingKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make signing key: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("make key id: %w", err)
	}
	return &signingKey{id: hex.EncodeToString(id), key: k}, nil
}

// SignatureAlgorithm is ES256.
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }

// Key returns the private key.
func (k *signingKey) Key() any { return k.key }

// ID returns the key id (kid).
func (k *signingKey) ID() string { return k.id }

// String hides the private key.
func (k *signingKey) String() string { return "signingKey(" + k.id + ")" }

// public returns the key's public half as published in the JWKS.
func (k *signingKey) public() publicKey { return publicKey{id: k.id, key: &k.key.PublicKey} }

// publicKey is a published verification key.
type publicKey struct {
	id  string
	key *ecdsa.PublicKey
}

// ID returns the key id (kid).
func (k publicKey) ID() string { return k.id }

// Algorithm is ES256.
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }

// Use is "sig".
func (k publicKey) Use() string { return "sig" }

// Key returns the public key.
func (k publicKey) Key() any { return k.key }
