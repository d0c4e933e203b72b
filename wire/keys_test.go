package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// seq is the 32 bytes first, first+1, ...
func seq(first byte) (b [32]byte) {
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// textKey is a public key type as it travels: text with a prefix.
type textKey interface {
	UnmarshalText([]byte) error
	MarshalText() ([]byte, error)
}

func TestPublicKeyText(t *testing.T) {
	hexOf := hex.EncodeToString(func() []byte { b := seq(0xa0); return b[:] }())
	tests := []struct {
		name string
		key  func() textKey
		text string
		// want is the text the key encodes back to; "" means refused.
		want string
	}{
		{"machine key", func() textKey { return new(MachinePublic) }, "mkey:" + hexOf, "mkey:" + hexOf},
		{"wireguard key", func() textKey { return new(WGPublic) }, "wgkey:" + hexOf, "wgkey:" + hexOf},
		{"upper-case hex", func() textKey { return new(WGPublic) }, "wgkey:" + strings.ToUpper(hexOf), "wgkey:" + hexOf},
		{"zero key", func() textKey { return new(MachinePublic) }, "mkey:" + strings.Repeat("0", 64), "mkey:" + strings.Repeat("0", 64)},
		{"wireguard key as a machine key", func() textKey { return new(MachinePublic) }, "wgkey:" + hexOf, ""},
		{"machine key as a wireguard key", func() textKey { return new(WGPublic) }, "mkey:" + hexOf, ""},
		{"no prefix", func() textKey { return new(WGPublic) }, hexOf, ""},
		{"upper-case prefix", func() textKey { return new(MachinePublic) }, "MKEY:" + hexOf, ""},
		{"prefix only", func() textKey { return new(MachinePublic) }, "mkey:", ""},
		{"empty", func() textKey { return new(WGPublic) }, "", ""},
		{"63 hex digits", func() textKey { return new(WGPublic) }, "wgkey:" + hexOf[:63], ""},
		{"31 bytes", func() textKey { return new(WGPublic) }, "wgkey:" + hexOf[:62], ""},
		{"33 bytes", func() textKey { return new(WGPublic) }, "wgkey:" + hexOf + "00", ""},
		{"not hex", func() textKey { return new(MachinePublic) }, "mkey:" + strings.Repeat("zz", 32), ""},
		{"space before", func() textKey { return new(MachinePublic) }, " mkey:" + hexOf, ""},
		{"newline after", func() textKey { return new(MachinePublic) }, "mkey:" + hexOf + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.key()
			err := k.UnmarshalText([]byte(tt.text))
			if tt.want == "" {
				if !errors.Is(err, errKeyFormat) {
					t.Fatalf("UnmarshalText(%q) = %v, want errKeyFormat", tt.text, err)
				}
				if b, _ := k.MarshalText(); !bytes.HasSuffix(b, []byte(strings.Repeat("0", 64))) {
					t.Fatalf("a refused text left a key behind: %s", b)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tt.text, err)
			}
			if b, _ := k.MarshalText(); string(b) != tt.want {
				t.Fatalf("MarshalText = %s, want %s", b, tt.want)
			}
		})
	}
}

// TestPublicKeysInJSON: keys travel as their text inside messages, and a
// key of the wrong kind is refused when the message is decoded.
func TestPublicKeysInJSON(t *testing.T) {
	in := ChallengeRequest{MachineKey: seq(1)}
	b, err := json.Marshal(in)
	if err != nil || string(b) != fmt.Sprintf(`{"machine_key":%q}`, MachinePublic(seq(1)).String()) {
		t.Fatalf("json %s, %v", b, err)
	}
	var out ChallengeRequest
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("decoded %+v, %v; want %+v", out, err, in)
	}
	wrong := strings.Replace(string(b), "mkey:", "wgkey:", 1)
	if err := json.Unmarshal([]byte(wrong), &out); !errors.Is(err, errKeyFormat) {
		t.Fatalf("a wireguard key as machine key: %v", err)
	}
}

func TestKeyStringsAndZero(t *testing.T) {
	wg := WGPublic(seq(0x10))
	tests := []struct {
		got, want string
	}{
		{wg.String(), "wgkey:" + wg.Hex()},
		{wg.ShortString(), "10111213"},
		{MachinePublic(seq(0x10)).String(), "mkey:" + wg.Hex()},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if !(WGPublic{}).IsZero() || wg.IsZero() || !(MachinePublic{}).IsZero() || MachinePublic(seq(0)).IsZero() {
		t.Error("IsZero wrong")
	}
}

// TestPrivateKeysNeverPrint: no formatting verb, logger or wrapped error
// shows a private key's bytes.
func TestPrivateKeysNeverPrint(t *testing.T) {
	wk, err := NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []any{wk, mk, &wk, &mk, struct{ K WGPrivate }{wk}} {
		secret := ""
		switch v := k.(type) {
		case WGPrivate:
			secret = v.Hex()
		case MachinePrivate:
			secret = hex.EncodeToString(v[:])
		}
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "k", k)
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", "k", k)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%08b"} {
			out := fmt.Sprintf(verb, k) + fmt.Errorf("wrapped: %v", k).Error()
			if leaks(out, wk, mk) || (secret != "" && strings.Contains(out, secret)) {
				t.Errorf("%s of %T shows the key: %s", verb, k, out)
			}
		}
		if leaks(logs.String(), wk, mk) {
			t.Errorf("a log of %T shows the key: %s", k, logs.String())
		}
		if b, err := json.Marshal(k); err == nil || leaks(string(b), wk, mk) {
			t.Errorf("json.Marshal of %T = %s, %v; want an error", k, b, err)
		}
	}
}

// leaks reports whether out shows the bytes of wk or mk in hex or as
// decimal numbers (separated by spaces or commas).
func leaks(out string, wk WGPrivate, mk MachinePrivate) bool {
	for _, b := range [][32]byte{wk, mk} {
		dec := strings.Trim(fmt.Sprint(b[:8]), "[]")
		if strings.Contains(strings.ToLower(out), hex.EncodeToString(b[:8])) || strings.Contains(out, dec) ||
			strings.Contains(out, strings.ReplaceAll(dec, " ", ",")) {
			return true
		}
	}
	return false
}

// TestWGPrivatePublic: a new key is clamped as X25519 wants it and its
// public half is the X25519 base point multiple.
func TestWGPrivatePublic(t *testing.T) {
	for range 8 {
		k, err := NewWGPrivate()
		if err != nil {
			t.Fatal(err)
		}
		if k[0]&7 != 0 || k[31]&128 != 0 || k[31]&64 == 0 {
			t.Fatalf("key not clamped: first %08b last %08b", k[0], k[31])
		}
		want, err := curve25519.X25519(k[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if pub := k.Public(); !bytes.Equal(pub[:], want) || pub.IsZero() {
			t.Fatalf("Public() = %v, want %x", pub, want)
		}
	}
}

// TestSessionSignature: a machine key's signature of a session message
// verifies for that key and message only.
func TestSessionSignature(t *testing.T) {
	k, _ := NewMachinePrivate()
	other, _ := NewMachinePrivate()
	challenge := []byte("challenge bytes")
	msg := SessionMessage(challenge, k.Public())
	sig := k.Sign(msg)
	tests := []struct {
		name string
		key  MachinePublic
		msg  []byte
		sig  []byte
		want bool
	}{
		{"signer and message", k.Public(), msg, sig, true},
		{"another key", other.Public(), msg, sig, false},
		{"another challenge", k.Public(), SessionMessage([]byte("challenge bytez"), k.Public()), sig, false},
		{"message for another machine", k.Public(), SessionMessage(challenge, other.Public()), sig, false},
		{"signature truncated", k.Public(), msg, sig[:63], false},
		{"signature padded", k.Public(), msg, append(bytes.Clone(sig), 0), false},
		{"no signature", k.Public(), msg, nil, false},
		{"signature flipped", k.Public(), msg, func() []byte { s := bytes.Clone(sig); s[5] ^= 1; return s }(), false},
	}
	for _, tt := range tests {
		if got := tt.key.Verify(tt.msg, tt.sig); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !bytes.HasPrefix(msg, []byte("ward-session-v1\x00challenge bytes")) || len(msg) != len("ward-session-v1\x00")+len(challenge)+32 {
		t.Errorf("SessionMessage layout: %q", msg)
	}
	if k.Public() == other.Public() || k.Public().IsZero() {
		t.Error("two new machine keys share a public key, or it is zero")
	}
}
