package relay

import (
	"errors"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestVerifierWithoutKeyRefuses: a standalone relay's Verifier starts
// without the coordinator's key and refuses every token until SetKey,
// and a new key (a restarted coordinator's) refuses the old key's tokens.
func TestVerifierWithoutKeyRefuses(t *testing.T) {
	now := time.Now()
	s1, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	claims := Claims{Key: wire.WGPublic{1}, Node: 7, IssuedAt: now, Expiry: now.Add(time.Minute)}
	tok1, err := s1.Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(nil, 0)
	if _, err := v.Verify(tok1, now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("no key yet: %v, want ErrBadToken", err)
	}
	v.SetKey(s1.Public())
	if c, err := v.Verify(tok1, now); err != nil || c.Key != claims.Key || c.Node != 7 {
		t.Fatalf("after SetKey: %+v %v", c, err)
	}
	v.SetKey(s2.Public())
	if _, err := v.Verify(tok1, now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("the old key's token after a new key: %v, want ErrBadToken", err)
	}
	v.SetKey([]byte("short"))
	tok2, _ := s2.Issue(claims)
	if _, err := v.Verify(tok2, now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a malformed key: %v, want ErrBadToken", err)
	}
}
