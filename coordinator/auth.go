package coordinator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/wire"
)

// Authentication errors.
var (
	errNoCredentials = errors.New("missing bearer token")
	errBadToken      = errors.New("invalid or expired token")
	errBadChallenge  = errors.New("unknown, used or expired challenge")
	errBadSignature  = errors.New("signature does not match the machine key")
	// errTooManySessions refuses new sessions while the table is full.
	errTooManySessions = errors.New("too many open sessions; try again later")
)

// sessions issues challenges and machine-bound session tokens. Only token
// hashes are kept, so a memory dump reveals no usable token.
type sessions struct {
	challengeTTL time.Duration
	sessionTTL   time.Duration

	mu sync.Mutex // mu guards the following
	// challenges maps a challenge to the machine it was issued to.
	challenges map[string]challenge
	// tokens maps a token's hash to its session.
	tokens map[[32]byte]session
}

type challenge struct {
	machine wire.MachinePublic
	expires time.Time
}

type session struct {
	machine wire.MachinePublic
	expires time.Time
}

func newSessions(challengeTTL, sessionTTL time.Duration) *sessions {
	return &sessions{challengeTTL: challengeTTL, sessionTTL: sessionTTL,
		challenges: map[string]challenge{}, tokens: map[[32]byte]session{}}
}

// Bounds on what unauthenticated callers can make the coordinator hold.
const (
	maxPendingChallenges = 100000
	maxSessions          = 200000
)

// challenge makes a one-time challenge for machine mk.
func (s *sessions) challenge(mk wire.MachinePublic, now time.Time) (wire.ChallengeResponse, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return wire.ChallengeResponse{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.challenges) >= maxPendingChallenges {
		s.sweepLocked(now)
		if len(s.challenges) >= maxPendingChallenges {
			return wire.ChallengeResponse{}, errors.New("too many pending challenges")
		}
	}
	exp := now.Add(s.challengeTTL)
	s.challenges[string(b)] = challenge{machine: mk, expires: exp}
	return wire.ChallengeResponse{Challenge: b, Expires: exp}, nil
}

// open verifies a signed challenge and returns a new session token.
func (s *sessions) open(req wire.SessionRequest, now time.Time) (string, time.Time, error) {
	s.mu.Lock()
	c, ok := s.challenges[string(req.Challenge)]
	delete(s.challenges, string(req.Challenge)) // a challenge is usable once
	s.mu.Unlock()
	if !ok || c.machine != req.MachineKey || now.After(c.expires) {
		return "", time.Time{}, errBadChallenge
	}
	if !req.MachineKey.Verify(wire.SessionMessage(req.Challenge, req.MachineKey), req.Signature) {
		return "", time.Time{}, errBadSignature
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	tok := "wst_" + base64.RawURLEncoding.EncodeToString(b)
	exp := now.Add(s.sessionTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) >= maxSessions {
		s.sweepLocked(now)
		if len(s.tokens) >= maxSessions {
			return "", time.Time{}, errTooManySessions
		}
	}
	s.tokens[sha256.Sum256([]byte(tok))] = session{machine: req.MachineKey, expires: exp}
	return tok, exp, nil
}

// lookup returns the session of a bearer token.
func (s *sessions) lookup(tok string, now time.Time) (session, error) {
	h := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.tokens[h]
	if !ok {
		return session{}, errBadToken
	}
	if now.After(ss.expires) {
		delete(s.tokens, h)
		return session{}, errBadToken
	}
	return ss, nil
}

// revokeMachine ends every session of machine mk (node removed).
func (s *sessions) revokeMachine(mk wire.MachinePublic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, ss := range s.tokens {
		if ss.machine == mk {
			delete(s.tokens, h)
		}
	}
}

func (s *sessions) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
}

func (s *sessions) sweepLocked(now time.Time) {
	for k, c := range s.challenges {
		if now.After(c.expires) {
			delete(s.challenges, k)
		}
	}
	for h, ss := range s.tokens {
		if now.After(ss.expires) {
			delete(s.tokens, h)
		}
	}
}

// bearer extracts the bearer token of r.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", errNoCredentials
	}
	return tok, nil
}

// hashSecret hashes a pre-auth key or API key secret for the store.
func hashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// newSecret makes a secret "PREFIX_<id>_<random>" and its display prefix.
func newSecret(kind string) (secret, display string, err error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	return kind + "_" + body, kind + "_" + body[:6], nil
}
