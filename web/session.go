package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wardnet/ward/admin"
)

// maxSessions bounds the live sessions; creating one past it first drops the
// expired ones, then refuses.
const maxSessions = 10000

// session is one logged-in person. It is immutable once stored.
type session struct {
	principal admin.Principal
	// user is the backend's reference to the person (admin.Identity.User).
	user   string
	groups []string
	// csrf is the token every state-changing request must carry.
	csrf    string
	expires time.Time
}

// sessionTimeout bounds one call to a SessionStore.
const sessionTimeout = 10 * time.Second

// sessions holds the live admin sessions, keyed by the SHA-256 of their
// cookie value so that neither the map nor the store holds a usable
// secret: in db when set (the coordinator's database, shared by every
// coordinator on it), else in memory.
type sessions struct {
	db  admin.SessionStore // nil: in memory
	log *slog.Logger

	mu sync.Mutex // mu guards the following
	m  map[[32]byte]*session
}

func newSessions(db admin.SessionStore, log *slog.Logger) *sessions {
	return &sessions{db: db, log: log, m: map[[32]byte]*session{}}
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// create stores s and returns the cookie value that names it.
func (ss *sessions) create(s *session, now time.Time) (string, error) {
	id, err := randomToken()
	if err != nil {
		return "", err
	}
	if s.csrf, err = randomToken(); err != nil {
		return "", err
	}
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
		defer cancel()
		rec := admin.Session{Principal: s.principal, User: s.user, Groups: s.groups, CSRF: s.csrf, Expires: s.expires}
		if err := ss.db.PutSession(ctx, sha256.Sum256([]byte(id)), rec); err != nil {
			return "", fmt.Errorf("create session: %w", err)
		}
		return id, nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.sweepLocked(now)
	}
	if len(ss.m) >= maxSessions {
		return "", fmt.Errorf("create session: %d sessions live: %w", len(ss.m), ErrForbidden)
	}
	ss.m[sha256.Sum256([]byte(id))] = s
	return id, nil
}

// get returns the live session named by id; an expired one is dropped. A
// store that fails to answer gives no session (the person logs in again).
func (ss *sessions) get(id string, now time.Time) (*session, bool) {
	k := sha256.Sum256([]byte(id))
	if ss.db != nil {
		return ss.getStored(k, now)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(s.expires) {
		delete(ss.m, k)
		return nil, false
	}
	return s, true
}

// getStored is get from ss.db.
func (ss *sessions) getStored(k [32]byte, now time.Time) (*session, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	rec, ok, err := ss.db.Session(ctx, k, now)
	if err != nil {
		ss.log.Warn("read admin session", "err", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	p := rec.Principal
	p.User = rec.User
	return &session{principal: p, user: rec.User, groups: rec.Groups, csrf: rec.CSRF, expires: rec.Expires}, true
}

// remove ends the session named by id.
func (ss *sessions) remove(id string) {
	k := sha256.Sum256([]byte(id))
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
		defer cancel()
		if err := ss.db.DeleteSession(ctx, k); err != nil {
			ss.log.Warn("end admin session", "err", err)
		}
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, k)
}

// removeUser ends every session of the person whose admin.Identity.User is user
// (or, when user is empty, whose email is email) and returns how many.
func (ss *sessions) removeUser(user, email string) int {
	if ss.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
		defer cancel()
		n, err := ss.db.DeleteSessionsOf(ctx, user, email)
		if err != nil {
			ss.log.Warn("end admin sessions", "err", err)
		}
		return n
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for k, s := range ss.m {
		if (user != "" && s.user == user) || (user == "" && email != "" && s.principal.Email == email) {
			delete(ss.m, k)
			n++
		}
	}
	return n
}

func (ss *sessions) sweepLocked(now time.Time) {
	for k, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, k)
		}
	}
}

// csrfOK reports whether token is s's CSRF token, in constant time.
func (s *session) csrfOK(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}
