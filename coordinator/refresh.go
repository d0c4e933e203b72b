package coordinator

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
)

// Refresher is implemented by an Authenticator that can ask the IdP again,
// between logins, whether a person may still get in. The Server's refresh
// loop calls Refresh every Config.RefreshEvery for each user with a live
// key, for several users at once (it must be safe for concurrent use); a
// call may block on the IdP for as long as its HTTP client allows.
type Refresher interface {
	// Refresh asks the IdP about id, the identity of a login this
	// Authenticator completed. It returns the identity the IdP vouches for
	// now (zero Issuer if it said nothing new); an error wrapping
	// sso.ErrRefreshRefused when the IdP refuses, after which the user's
	// keys must go; errNoRefreshToken when it holds nothing to ask with
	// (for example after a coordinator restart); any other error is
	// transient.
	Refresh(ctx context.Context, id store.Identity) (store.Identity, error)
}

// errNoRefreshToken means no refresh token is held for a user.
var errNoRefreshToken = errors.New("no refresh token for this user")

// errTokenUnreadable means a user's refresh token is held but this
// coordinator's key cannot open it (coordinators sharing a database with
// different Config.TokenKeyFile keys). It wraps errNoRefreshToken: the
// user cannot be asked about, which the refresh loop reports loudly, as
// the IdP's deprovisioning then goes unnoticed.
var errTokenUnreadable = fmt.Errorf("%w: the refresh token cannot be opened with this coordinator's key (is %s the same on every coordinator of the database?)", errNoRefreshToken, TokenKeyFile)

// refreshTokens keeps the latest refresh token of each user, by issuer and
// subject, in the store, sealed with AES-256-GCM under a key kept outside
// the database (Config.TokenKeyFile): every coordinator on the database
// holding that key can refresh every user, and a restart forgets no one.
// Tokens are never logged.
type refreshTokens struct {
	st   store.RefreshTokens
	aead cipher.AEAD
}

// newRefreshTokens seals tokens in st with key (32 bytes).
func newRefreshTokens(st store.RefreshTokens, key []byte) (*refreshTokens, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("refresh token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("refresh token key: %w", err)
	}
	return &refreshTokens{st: st, aead: aead}, nil
}

// seal encrypts tok for id's row: a random nonce, then the sealed token,
// bound to the subject (the issuer may move, see moveIssuer).
func (t *refreshTokens) seal(id store.Identity, tok sso.Secret) ([]byte, error) {
	nonce := make([]byte, t.aead.NonceSize(), t.aead.NonceSize()+len(tok)+t.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal refresh token: %w", err)
	}
	return t.aead.Seal(nonce, nonce, []byte(tok), []byte(id.Subject)), nil
}

// open decrypts what seal made for id.
func (t *refreshTokens) open(id store.Identity, sealed []byte) (sso.Secret, error) {
	n := t.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("open refresh token: too short")
	}
	b, err := t.aead.Open(nil, sealed[:n], sealed[n:], []byte(id.Subject))
	if err != nil {
		return "", fmt.Errorf("open refresh token (another coordinator's key?): %w", err)
	}
	return sso.Secret(b), nil
}

// put keeps tok as id's latest refresh token.
func (t *refreshTokens) put(ctx context.Context, id store.Identity, tok sso.Secret) error {
	sealed, err := t.seal(id, tok)
	if err != nil {
		return err
	}
	return t.st.PutRefreshToken(ctx, id.Issuer, id.Subject, sealed, time.Now())
}

// get returns id's latest refresh token and its sealed form (for swap);
// errNoRefreshToken when none is kept, or it cannot be opened with this
// coordinator's key.
func (t *refreshTokens) get(ctx context.Context, id store.Identity) (sso.Secret, []byte, error) {
	sealed, err := t.st.RefreshToken(ctx, id.Issuer, id.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, errNoRefreshToken
	}
	if err != nil {
		return "", nil, err
	}
	tok, err := t.open(id, sealed)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errTokenUnreadable, err)
	}
	return tok, sealed, nil
}

// swap replaces id's token, whose sealed form is old, by next (dropping it
// if next is empty), unless a login has put a newer one meanwhile.
func (t *refreshTokens) swap(ctx context.Context, id store.Identity, old []byte, next sso.Secret) error {
	var sealed []byte
	if next != "" {
		var err error
		if sealed, err = t.seal(id, next); err != nil {
			return err
		}
	}
	return t.st.SwapRefreshToken(ctx, id.Issuer, id.Subject, old, sealed, time.Now())
}

// moveIssuer files the tokens of issuer from under issuer to, after the
// users moved (fleet.MigrateIssuer).
func (t *refreshTokens) moveIssuer(ctx context.Context, from, to string) error {
	return t.st.MoveRefreshTokens(ctx, from, to)
}

// refreshLoop re-checks users with the IdP every RefreshEvery until the
// server closes.
func (s *logins) refreshLoop(r Refresher) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			if s.runsJob(jobIdPRefresh) {
				s.refreshRound(s.ctx, r, s.usersWithLiveKeys(s.ctx, now))
			}
		}
	}
}

// refreshWorkers bounds the users asked about at once in a round.
const refreshWorkers = 8

// refreshRound asks the IdP about every user in users, refreshWorkers at a
// time, so that one hung answer delays no one else's refusal.
func (s *logins) refreshRound(ctx context.Context, r Refresher, users []store.User) {
	sem := make(chan struct{}, refreshWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, u := range users {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.refreshUser(ctx, r, u)
		}()
	}
}

// usersWithLiveKeys returns the enabled users owning a node whose key has
// not expired.
func (s *logins) usersWithLiveKeys(ctx context.Context, now time.Time) []store.User {
	var ids []store.UserID
	s.nm.mu.Lock()
	for _, n := range s.nm.nodes {
		if len(n.Tags) == 0 && n.UserID != 0 && n.KeyExpiry.After(now) && !slices.Contains(ids, n.UserID) {
			ids = append(ids, n.UserID)
		}
	}
	s.nm.mu.Unlock()
	var out []store.User
	for _, id := range ids {
		u, err := s.st.User(ctx, id)
		if err != nil {
			s.log.Warn("refresh: load user", "user_id", id, "err", err)
			continue
		}
		if !u.Disabled {
			out = append(out, u)
		}
	}
	return out
}

// refreshUser asks the IdP about u: a refusal cuts u's keys; new groups,
// email or name are recorded; a transient failure is logged and retried at
// the next tick.
func (s *logins) refreshUser(ctx context.Context, r Refresher, u store.User) {
	id := store.Identity{Issuer: u.Issuer, Subject: u.Subject, Email: u.Email, DisplayName: u.DisplayName, Groups: u.Groups}
	got, err := r.Refresh(ctx, id)
	switch {
	case errors.Is(err, errTokenUnreadable):
		s.log.Error("refresh: cannot ask the identity provider about a user; a removal there goes unnoticed", "user", u.Email, "err", err)
	case errors.Is(err, errNoRefreshToken) || ctx.Err() != nil:
	case errors.Is(err, sso.ErrRefreshRefused):
		s.refreshRefused(ctx, u, err.Error())
	case err != nil:
		s.log.Warn("refresh: identity provider", "user", u.Email, "err", err)
	case got.Issuer == "":
	case got.Issuer != u.Issuer || got.Subject != u.Subject:
		s.refreshRefused(ctx, u, "the identity provider answered for another user")
	default:
		s.refreshed(ctx, u, got)
	}
}

// refreshRefused cuts every key of u. The user stays enabled: they may log
// in again if the IdP lets them.
func (s *logins) refreshRefused(ctx context.Context, u store.User, why string) {
	s.audit(ctx, "system", "user.refresh_refused", "user:"+u.Email, "", map[string]any{"reason": why})
	if err := s.cutUserKeys(ctx, u, "system", "identity provider refused refresh"); err != nil {
		s.log.Error("refresh: cut keys", "user", u.Email, "err", err)
	}
}

// refreshed records what the IdP now says about u, so the policy follows
// its group changes.
func (s *logins) refreshed(ctx context.Context, u store.User, got store.Identity) {
	if slices.Equal(got.Groups, u.Groups) && got.Email == u.Email && got.DisplayName == u.DisplayName {
		return
	}
	got.AuthTime, got.MFA = time.Time{}, false // a refresh authenticates no one: keep the login's times
	_, err := s.st.UpsertUser(ctx, got, u.LastLogin)
	if errors.Is(err, store.ErrEmailBound) {
		s.refreshRefused(ctx, u, "the identity provider now gives this user an email bound to another user")
		return
	}
	if err != nil {
		s.log.Warn("refresh: record user", "user", u.Email, "err", err)
		return
	}
	if err := s.refreshUsers(ctx); err != nil {
		s.log.Warn("refresh: reload users", "user", u.Email, "err", err)
		return
	}
	s.audit(ctx, "system", "user.refreshed", "user:"+got.Email, "", map[string]any{"before": u.Groups, "after": got.Groups})
}
