package devidp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Bounds on what the provider keeps in memory.
const (
	requestTTL      = 10 * time.Minute
	maxRequests     = 1000
	maxTokens       = 10000
	maxLoginFailure = 5
)

// Login errors, shown on the form.
var (
	errUnknownRequest  = errors.New("this login has expired or is unknown; start again from the application")
	errBadCredentials  = errors.New("wrong username or password")
	errBadOTP          = errors.New("wrong one-time code")
	errTooManyAttempts = errors.New("too many failed attempts; start again from the application")
	errNotThisBrowser  = errors.New("this login was started in another browser or its cookie is missing")
	errFull            = errors.New("too many logins in progress")
)

// storage implements op.Storage in memory.
type storage struct {
	cfg *settings
	key *signingKey
	now func() time.Time

	mu sync.Mutex
	// mu guards the following.
	requests map[string]*authRequest  // by id
	codes    map[string]string        // code -> request id
	tokens   map[string]*accessToken  // by id
	refresh  map[string]*refreshToken // by token value
}

var _ op.Storage = (*storage)(nil)

func newStorage(cfg *settings) (*storage, error) {
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	return &storage{
		cfg:      cfg,
		key:      k,
		now:      time.Now,
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		tokens:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
	}, nil
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// CreateAuthRequest stores a validated authorization request. It refuses a
// request without a PKCE S256 challenge, and prompt=none (no session here).
func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	if len(r.Prompt) == 1 && r.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired()
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	if len(s.requests) >= maxRequests {
		return nil, oidc.ErrServerError().WithDescription("%s", errFull.Error())
	}
	a := newAuthRequest(id, r, now)
	s.requests[id] = a
	return a.clone(), nil
}

// pruneLocked drops expired requests, their codes, and expired tokens.
func (s *storage) pruneLocked(now time.Time) {
	for id, a := range s.requests {
		if now.Sub(a.created) > requestTTL {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, id)
		}
	}
	for id, t := range s.refresh {
		if now.After(t.expires) {
			delete(s.refresh, id)
		}
	}
}

// requestLocked returns the live request id, or errUnknownRequest.
func (s *storage) requestLocked(id string) (*authRequest, error) {
	a, ok := s.requests[id]
	if !ok || s.now().Sub(a.created) > requestTTL {
		return nil, errUnknownRequest
	}
	return a, nil
}

// AuthRequestByID returns a copy of the request id.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.requestLocked(id)
	if err != nil {
		return nil, err
	}
	return a.clone(), nil
}

// AuthRequestByCode returns a copy of the request an unused code was issued
// for. A code is gone once exchanged, so a replayed code fails here.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errors.New("code unknown, used or expired")
	}
	a, err := s.requestLocked(id)
	if err != nil {
		return nil, err
	}
	return a.clone(), nil
}

// SaveAuthCode records code for the request id, replacing any earlier code.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.requestLocked(id); err != nil {
		return err
	}
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest removes the request and its code; the op package calls
// it once the code has been exchanged.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

// bindBrowser makes a new browser binding for the request id and returns
// it, to be set as a cookie along with the login form.
func (s *storage) bindBrowser(id string) (string, error) {
	b, err := randomID()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.requestLocked(id)
	if err != nil {
		return "", err
	}
	a.binding = b
	a.pwdUser = "" // a reloaded form starts again with the password
	return b, nil
}
