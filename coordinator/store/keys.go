package store

import (
	"encoding/base64"
	"encoding/hex"
)

// MachinePublic is the public half of a node's machine key, which identifies
// the machine to the coordinator. Its own type keeps it from being passed
// where a WireGuard key is expected.
type MachinePublic [32]byte

// IsZero reports whether k is the zero key (unset).
func (k MachinePublic) IsZero() bool { return k == MachinePublic{} }

// String returns k as "mkey:" followed by lowercase hex.
func (k MachinePublic) String() string { return "mkey:" + hex.EncodeToString(k[:]) }

// WGPublic is the public half of a node's WireGuard key.
type WGPublic [32]byte

// IsZero reports whether k is the zero key (unset).
func (k WGPublic) IsZero() bool { return k == WGPublic{} }

// String returns k in standard base64, as the wg tool prints keys.
func (k WGPublic) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// SecretHash is the SHA-256 hash of a pre-auth key or API key secret. The
// store keeps only hashes; the caller makes the secret, shows it once and
// hashes it (sha256.Sum256 returns a value assignable to SecretHash).
type SecretHash [32]byte

// IsZero reports whether h is the zero hash (unset).
func (h SecretHash) IsZero() bool { return h == SecretHash{} }
