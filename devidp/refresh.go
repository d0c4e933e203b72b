package devidp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// refreshTTL is how long an unused refresh token stays valid.
const refreshTTL = 30 * 24 * time.Hour

// errRefreshUnknown makes the op package answer invalid_grant.
var errRefreshUnknown = errors.New("refresh token unknown, used, revoked or expired")

// refreshToken is an issued opaque refresh token; its value is its id. A
// refresh rotates it: the old value is gone once the new one is issued.
type refreshToken struct {
	id       string
	clientID string
	subject  string
	scopes   []string
	amr      []string
	authTime time.Time
	expires  time.Time
}

// refreshRequest is a refresh token as the op package sees it: a copy,
// with the scopes asked for in this refresh.
type refreshRequest struct {
	refreshToken
	current []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

// GetAMR returns the methods of the login the token came from.
func (r *refreshRequest) GetAMR() []string { return r.amr }

// GetAudience is the client id.
func (r *refreshRequest) GetAudience() []string { return []string{r.clientID} }

// GetAuthTime is when the login the token came from was completed.
func (r *refreshRequest) GetAuthTime() time.Time { return r.authTime }

// GetClientID returns the client the token was issued to.
func (r *refreshRequest) GetClientID() string { return r.clientID }

// GetScopes returns the scopes of this refresh: the original ones unless
// the client asked for fewer.
func (r *refreshRequest) GetScopes() []string {
	if r.current != nil {
		return r.current
	}
	return r.scopes
}

// GetSubject returns the user's subject.
func (r *refreshRequest) GetSubject() string { return r.subject }

// SetCurrentScopes narrows the scopes of this refresh.
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.current = slices.Clone(scopes) }

// refreshSource reads what a new refresh token inherits from the request
// it is issued for: a finished login or an earlier refresh.
func refreshSource(r op.TokenRequest) (refreshToken, error) {
	switch r := r.(type) {
	case *authRequest:
		return refreshToken{clientID: r.clientID, subject: r.subject, scopes: r.scopes, amr: r.amr, authTime: r.authTime}, nil
	case *refreshRequest:
		t := r.refreshToken
		t.scopes = r.GetScopes()
		return t, nil
	default:
		return refreshToken{}, fmt.Errorf("refresh tokens are not issued for a %T", r)
	}
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token
// for a login that asked for offline_access, or for a refresh; current,
// the refresh token being redeemed, is used up.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	t, err := refreshSource(r)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if t.id, err = randomID(); err != nil {
		return "", "", time.Time{}, err
	}
	access, exp, err := s.CreateAccessToken(ctx, r)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	t.expires = now.Add(refreshTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if current != "" {
		if _, ok := s.refresh[current]; !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithParent(errRefreshUnknown)
		}
		delete(s.refresh, current)
	}
	if len(s.refresh) >= maxTokens {
		return "", "", time.Time{}, oidc.ErrServerError().WithDescription("%s", errFull.Error())
	}
	s.refresh[t.id] = &t
	return access, t.id, exp, nil
}

// TokenRequestByRefreshToken returns a copy of a live refresh token; the
// op package answers invalid_grant to an error.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[token]
	if !ok || s.now().After(t.expires) {
		return nil, errRefreshUnknown
	}
	return &refreshRequest{refreshToken: *t}, nil
}

// GetRefreshTokenInfo returns the subject and id of a live refresh token.
func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[token]
	if !ok || t.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, t.id, nil
}

// revokeSubject drops every refresh and access token of subject, so its
// next refresh fails with invalid_grant. A later login issues new ones.
func (s *storage) revokeSubject(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.refresh {
		if t.subject == subject {
			delete(s.refresh, id)
		}
	}
	for id, t := range s.tokens {
		if t.subject == subject {
			delete(s.tokens, id)
		}
	}
}

// RevokeUser makes the provider refuse username's next refresh: every
// refresh and access token issued to the user so far is dropped, so a
// refresh answers invalid_grant, as a company IdP does once an account is
// locked or its sessions are ended. The user may still log in again, which
// issues new tokens. It fails with ErrInvalidUsers for an unknown user.
func (p *Provider) RevokeUser(username string) error {
	u, ok := p.cfg.users[username]
	if !ok {
		return fmt.Errorf("%w: no user %q", ErrInvalidUsers, username)
	}
	p.store.revokeSubject(u.Subject)
	p.cfg.log.Info("revoked the tokens of a user", "user", username)
	return nil
}
