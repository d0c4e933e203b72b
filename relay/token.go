package relay

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/wire"
)

// MaxTokenLife is the longest a relay token may live.
const MaxTokenLife = 10 * time.Minute

// DefaultSkew is how far a relay's clock may differ from the signer's.
const DefaultSkew = 30 * time.Second

// tokenContext separates relay-token signatures from anything else the key
// might sign.
const tokenContext = "ward relay token v1\x00"

// tokenBody is version (1) | key (32) | node id (8) | issued (8) | expiry (8).
const tokenBody = 1 + 32 + 8 + 8 + 8

// ErrBadToken refuses a relay token that is malformed, forged, expired or
// not yet valid.
var ErrBadToken = errors.New("relay: invalid token")

// Claims is what a relay token asserts: the bearer speaks for Key (node
// Node) from IssuedAt until Expiry.
type Claims struct {
	Key      wire.WGPublic
	Node     wire.NodeID
	IssuedAt time.Time
	Expiry   time.Time
}

// Signer issues relay tokens.
type Signer struct{ priv ed25519.PrivateKey }

// NewSigner returns a Signer with a random key (never written: a restart
// makes a new one, and the in-process relay verifies with it).
func NewSigner() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate relay signing key: %w", err)
	}
	return &Signer{priv: priv}, nil
}

// NewSignerFromSeed returns a Signer whose key is made from seed
// (ed25519.SeedSize bytes): signers made from one seed, in several
// processes, issue tokens one Verifier accepts.
func NewSignerFromSeed(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("relay signing key seed: %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &Signer{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Public returns the key a Verifier checks with.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Issue signs c; it refuses a lifetime over MaxTokenLife.
func (s *Signer) Issue(c Claims) (string, error) {
	if life := c.Expiry.Sub(c.IssuedAt); life <= 0 || life > MaxTokenLife {
		return "", fmt.Errorf("issue relay token for %s: lifetime %v outside (0, %v]", c.Key.ShortString(), life, MaxTokenLife)
	}
	body := encodeClaims(c)
	sig := ed25519.Sign(s.priv, append([]byte(tokenContext), body...))
	return base64.RawURLEncoding.EncodeToString(append(body, sig...)), nil
}

func encodeClaims(c Claims) []byte {
	b := make([]byte, 0, tokenBody+ed25519.SignatureSize)
	b = append(b, 1)
	b = append(b, c.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Node))
	b = binary.BigEndian.AppendUint64(b, uint64(c.IssuedAt.Unix()))
	return binary.BigEndian.AppendUint64(b, uint64(c.Expiry.Unix()))
}

// Verifier checks relay tokens with the signer's public key. A
// standalone relay's Verifier starts without one (refusing every token)
// and takes it, and any later one, from the coordinator (SetKey).
type Verifier struct {
	// pub is the key tokens must be signed with; nil refuses all.
	pub atomic.Pointer[ed25519.PublicKey]
	// skew is the clock difference tolerated at both ends of a token's life.
	skew time.Duration
}

// NewVerifier returns a Verifier for tokens signed by pub (nil: none
// until SetKey), tolerating skew of clock difference (DefaultSkew when 0).
func NewVerifier(pub ed25519.PublicKey, skew time.Duration) *Verifier {
	if skew <= 0 {
		skew = DefaultSkew
	}
	v := &Verifier{skew: skew}
	v.SetKey(pub)
	return v
}

// SetKey makes pub the key tokens must be signed with from now on; nil,
// or a key of the wrong size, refuses every token.
func (v *Verifier) SetKey(pub ed25519.PublicKey) {
	if len(pub) != ed25519.PublicKeySize {
		v.pub.Store(nil)
		return
	}
	k := slices.Clone(pub)
	v.pub.Store(&k)
}

// Verify returns the claims of tok when it is signed by the verifier's key
// and valid at now (within the skew).
func (v *Verifier) Verify(tok string, now time.Time) (Claims, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != tokenBody+ed25519.SignatureSize || raw[0] != 1 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	body, sig := raw[:tokenBody], raw[tokenBody:]
	pub := v.pub.Load()
	if pub == nil {
		return Claims{}, fmt.Errorf("%w: no verification key", ErrBadToken)
	}
	if !ed25519.Verify(*pub, append([]byte(tokenContext), body...), sig) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrBadToken)
	}
	var c Claims
	copy(c.Key[:], body[1:33])
	c.Node = wire.NodeID(binary.BigEndian.Uint64(body[33:41]))
	c.IssuedAt = time.Unix(int64(binary.BigEndian.Uint64(body[41:49])), 0)
	c.Expiry = time.Unix(int64(binary.BigEndian.Uint64(body[49:57])), 0)
	switch {
	case c.Expiry.Sub(c.IssuedAt) > MaxTokenLife || !c.Expiry.After(c.IssuedAt):
		return Claims{}, fmt.Errorf("%w: lifetime over %v", ErrBadToken, MaxTokenLife)
	case now.Add(v.skew).Before(c.IssuedAt):
		return Claims{}, fmt.Errorf("%w: not yet valid", ErrBadToken)
	case !now.Add(-v.skew).Before(c.Expiry):
		return Claims{}, fmt.Errorf("%w: expired", ErrBadToken)
	}
	return c, nil
}
