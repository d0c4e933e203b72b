package sso

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Pending is a login between Begin and Finish. The browser carries it,
// sealed, in a cookie; the coordinator keeps nothing.
type Pending struct {
	// State is the OAuth state sent to the IdP; the cookie is named after it.
	State string `json:"s"`
	// Verifier is the PKCE code verifier. Secret.
	Verifier string `json:"v"`
	// Nonce is the OIDC nonce the ID token must carry. Secret.
	Nonce string `json:"n"`
	// Payload is the caller's opaque value given to Begin.
	Payload string `json:"p"`
	// Expires is when the login stops being accepted.
	Expires time.Time `json:"e"`
}

// LogValue shows the payload and expiry only.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(slog.String("payload", p.Payload), slog.Time("expires", p.Expires))
}

// Bounds of what a login cookie may carry.
const (
	// MaxPayload is the longest payload Begin accepts.
	MaxPayload = 1024
	// maxSealed bounds a cookie value read back, well above what Begin
	// makes from a MaxPayload payload.
	maxSealed = 3072
	// stateLen is the length of a state made by rand.Text.
	stateLen = 26
)

// sealer encrypts and authenticates pending logins with AES-256-GCM under
// Config.CookieKey, or a key made by New and never stored (then a login
// started before a restart must start again). The additional data binds
// a cookie to one RP (client and redirect URL), so one RP's cookie is
// nothing to another, whatever key they share.
type sealer struct {
	aead cipher.AEAD
	ad   []byte
}

func newSealer(key []byte, clientID, redirectURL string) (*sealer, error) {
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key) // crypto/rand.Read never fails (it crashes the program instead)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("login cookie key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("login cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("login cookie cipher: %w", err)
	}
	return &sealer{aead: aead, ad: []byte("ward-sso-login-v1\x00" + clientID + "\x00" + redirectURL)}, nil
}

// seal returns p encrypted, as a cookie value.
func (s *sealer) seal(p Pending) string {
	pt, _ := json.Marshal(p) // strings and an integer: cannot fail
	ns := s.aead.NonceSize()
	nonce := make([]byte, ns, ns+len(pt)+s.aead.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, pt, s.ad))
}

// open decrypts a cookie value made by seal. It fails with ErrBadState for
// anything else.
func (s *sealer) open(v string) (Pending, error) {
	if len(v) > maxSealed {
		return Pending{}, fmt.Errorf("%w: login cookie too long", ErrBadState)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	ns := s.aead.NonceSize()
	if err != nil || len(b) < ns+s.aead.Overhead() {
		return Pending{}, fmt.Errorf("%w: malformed login cookie", ErrBadState)
	}
	pt, err := s.aead.Open(nil, b[:ns], b[ns:], s.ad)
	if err != nil {
		return Pending{}, fmt.Errorf("%w: login cookie not made by this coordinator (or made before it restarted)", ErrBadState)
	}
	var p Pending
	if err := json.Unmarshal(pt, &p); err != nil {
		return Pending{}, fmt.Errorf("%w: login cookie: %v", ErrBadState, err)
	}
	return p, nil
}

// validState reports whether state has the form of a state Begin makes,
// so that it can name a cookie.
func validState(state string) bool {
	if len(state) != stateLen {
		return false
	}
	return strings.Trim(state, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}

// cookieName is the name of the cookie of the login with state: one per
// login, so that logins in several tabs do not undo each other. Over https
// the __Host- prefix keeps a sibling domain from setting it.
func (rp *RP) cookieName(state string) string {
	if rp.secure {
		return "__Host-ward_login_" + state
	}
	return "ward_login_" + state
}

// cookie returns the cookie that carries p to the callback: HttpOnly,
// SameSite=Lax (the IdP's redirect back is a top-level GET, which carries
// it), Secure over https, gone after the login's lifetime.
func (rp *RP) cookie(p Pending, now time.Time) *http.Cookie {
	return &http.Cookie{Name: rp.cookieName(p.State), Value: rp.sealer.seal(p), Path: "/",
		MaxAge: int(p.Expires.Sub(now).Seconds()), HttpOnly: true, Secure: rp.secure, SameSite: http.SameSiteLaxMode}
}

// clearCookie returns the cookie that deletes the login cookie called name.
func (rp *RP) clearCookie(name string) *http.Cookie {
	return &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: rp.secure, SameSite: http.SameSiteLaxMode}
}
