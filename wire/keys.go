// Package wire holds the types of Ward's control protocol, shared by the
// coordinator and the node agent. Every field says what it means, whether
// it may be empty and since which protocol version it exists; the
// versions, and what each brought, are listed at ProtocolVersion.
package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// MachinePublic is a node's machine public key (Ed25519). It identifies the
// machine to the coordinator and never changes for the node's life.
type MachinePublic [32]byte

// WGPublic is a WireGuard (Curve25519) public key.
type WGPublic [32]byte

// WGPrivate is a WireGuard private key. It never leaves the node; String
// does not print it.
type WGPrivate [32]byte

// MachinePrivate is a node's machine private key (an Ed25519 seed). It never
// leaves the node; String does not print it.
type MachinePrivate [32]byte

const (
	machinePrefix = "mkey:"
	wgPrefix      = "wgkey:"
)

var (
	errKeyFormat      = errors.New("bad key")
	errPrivateKeyJSON = errors.New("private keys are not encoded as JSON")
)

func parseKey(prefix, s string) ([32]byte, error) {
	var k [32]byte
	if !strings.HasPrefix(s, prefix) {
		return k, fmt.Errorf("%w: want prefix %q", errKeyFormat, prefix)
	}
	b, err := hex.DecodeString(s[len(prefix):])
	if err != nil || len(b) != 32 {
		return k, fmt.Errorf("%w: want %s and 64 hex digits", errKeyFormat, prefix)
	}
	copy(k[:], b)
	return k, nil
}

// String formats k as "mkey:" and hex.
func (k MachinePublic) String() string { return machinePrefix + hex.EncodeToString(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k MachinePublic) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *MachinePublic) UnmarshalText(b []byte) error {
	v, err := parseKey(machinePrefix, string(b))
	*k = v
	return err
}

// IsZero reports whether k is unset.
func (k MachinePublic) IsZero() bool { return k == MachinePublic{} }

// String formats k as "wgkey:" and hex.
func (k WGPublic) String() string { return wgPrefix + hex.EncodeToString(k[:]) }

// Hex formats k as bare hex, as wireguard-go's UAPI wants it.
func (k WGPublic) Hex() string { return hex.EncodeToString(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k WGPublic) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *WGPublic) UnmarshalText(b []byte) error {
	v, err := parseKey(wgPrefix, string(b))
	*k = v
	return err
}

// IsZero reports whether k is unset.
func (k WGPublic) IsZero() bool { return k == WGPublic{} }

// ShortString is a short, loggable form of k.
func (k WGPublic) ShortString() string { return hex.EncodeToString(k[:4]) }

// NewWGPrivate makes a fresh WireGuard private key.
func NewWGPrivate() (WGPrivate, error) {
	var k WGPrivate
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("new wireguard key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// Public returns the public half of k.
func (k WGPrivate) Public() WGPublic {
	var p WGPublic
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err == nil {
		copy(p[:], pub)
	}
	return p
}

// Hex formats k as bare hex for wireguard-go's UAPI. Never log it.
func (k WGPrivate) Hex() string { return hex.EncodeToString(k[:]) }

// String hides the key.
func (k WGPrivate) String() string { return "wgprivate:<redacted>" }

// Format hides the key for every verb, %#v and %d included.
func (k WGPrivate) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// MarshalJSON refuses: a private key is never encoded by accident (a JSON
// log line, a struct sent somewhere). Files that keep it encode Hex.
func (k WGPrivate) MarshalJSON() ([]byte, error) { return nil, errPrivateKeyJSON }

// NewMachinePrivate makes a fresh machine key.
func NewMachinePrivate() (MachinePrivate, error) {
	var k MachinePrivate
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("new machine key: %w", err)
	}
	return k, nil
}

// Public returns the public half of k.
func (k MachinePrivate) Public() MachinePublic {
	var p MachinePublic
	copy(p[:], ed25519.NewKeyFromSeed(k[:]).Public().(ed25519.PublicKey))
	return p
}

// Sign signs msg with k.
func (k MachinePrivate) Sign(msg []byte) []byte {
	return ed25519.Sign(ed25519.NewKeyFromSeed(k[:]), msg)
}

// String hides the key.
func (k MachinePrivate) String() string { return "mkeyprivate:<redacted>" }

// Format hides the key for every verb, %#v and %d included.
func (k MachinePrivate) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// MarshalJSON refuses: a private key is never encoded by accident (a JSON
// log line, a struct sent somewhere). Files that keep it encode Hex.
func (k MachinePrivate) MarshalJSON() ([]byte, error) { return nil, errPrivateKeyJSON }

// Verify reports whether sig is k's signature of msg.
func (k MachinePublic) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(ed25519.PublicKey(k[:]), msg, sig)
}

// SessionMessage is the message a node signs to open a control session: a
// fixed context string, the coordinator's challenge and the machine key, so
// a signature cannot be replayed for another purpose or machine.
func SessionMessage(challenge []byte, mk MachinePublic) []byte {
	msg := append([]byte("ward-session-v1\x00"), challenge...)
	return append(msg, mk[:]...)
}
