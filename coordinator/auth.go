package coordinator

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/replay"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// sessions issues challenges and machine-bound session tokens without
// holding anything per caller: a challenge and a token each carry their
// machine key and expiry under a MAC made with a key of this process, and
// are checked by recomputing it. The keys are made at start and never
// written anywhere, so a restart ends every session (nodes open new ones,
// as their control client does on any 401), and no backup or copy of the
// data directory can be turned into a session for someone else's machine.
//
// What sessions does hold is bounded whatever callers do: the challenges
// presented lately (at most maxUsedChallenges, oldest forgotten first) and
// the machines whose sessions an admin ended (removed nodes, for one
// session lifetime).
type sessions struct {
	challengeTTL time.Duration
	sessionTTL   time.Duration
	// challengeKey and tokenKey are the MAC keys: random, never stored;
	// on PostgreSQL derived from the token key (share), so that every
	// coordinator of the database admits the others' sessions.
	// Set before the first request, never changed.
	challengeKey, tokenKey [32]byte
	// usedShared, when set (share), makes a challenge good for one session
	// on all the coordinators of the database, not one on each.
	usedShared challengeLog
	// used makes a challenge good for one session request: it holds the
	// nonces of the last maxUsedChallenges challenges presented. A flood
	// can only push a nonce out early, letting whoever holds that signed
	// request get another token for the same machine, which the answer to
	// the signer gave already; it can never refuse a handshake.
	used *replay.Window[[nonceLen]byte]

	mu sync.Mutex // mu guards the following
	// revoked maps a machine whose sessions were ended to when: tokens
	// issued at or before then are refused. An entry goes once every such
	// token has expired.
	revoked map[wire.MachinePublic]time.Time
}

// challengeLog records the challenges presented on every coordinator of
// a database (store.PendingLogins.UseChallenge).
type challengeLog interface {
	UseChallenge(ctx context.Context, nonce []byte, expires, now time.Time) (bool, error)
}

// The labels of the session keys derived from the token key (see
// derivedKey).
const (
	sessionChallengeInfo = "ward control session challenge key v1"
	sessionTokenInfo     = "ward control session token key v1"
)

// share makes the session keys the ones every coordinator of a database
// derives from the token key it shares (tokenKey), and records the
// challenges presented in used, so that a node's session, opened on one
// coordinator, is good on every other behind a balancer without sticky
// sessions, and a signed challenge still opens one session only. Called
// before the first request.
func (s *sessions) share(tokenKey []byte, used challengeLog) error {
	ck, err := derivedKey(tokenKey, sessionChallengeInfo, len(s.challengeKey))
	if err != nil {
		return err
	}
	tk, err := derivedKey(tokenKey, sessionTokenInfo, len(s.tokenKey))
	if err != nil {
		return err
	}
	copy(s.challengeKey[:], ck)
	copy(s.tokenKey[:], tk)
	s.usedShared = used
	return nil
}

// session is an authenticated control session.
type session struct {
	machine wire.MachinePublic
	expires time.Time
}

func newSessions(challengeTTL, sessionTTL time.Duration) *sessions {
	s := &sessions{challengeTTL: challengeTTL, sessionTTL: sessionTTL,
		used: replay.New[[nonceLen]byte](maxUsedChallenges), revoked: map[wire.MachinePublic]time.Time{}}
	rand.Read(s.challengeKey[:]) // crypto/rand.Read never fails (it crashes the program instead)
	rand.Read(s.tokenKey[:])
	return s
}

// maxUsedChallenges bounds the challenges remembered as used. All expire
// after challengeTTL (30s), so a replay is refused unless this many other
// challenges were presented in between.
const maxUsedChallenges = 1 << 16

// Layouts of a challenge and a session token (wstLen bytes, after "wst_"
// and base64).
const (
	authVersion  = 1
	nonceLen     = 16
	macLen       = sha256.Size
	challengeLen = 1 + nonceLen + 8 + macLen                      // version, nonce, expiry, MAC
	wstLen       = 1 + len(wire.MachinePublic{}) + 8 + 8 + macLen // version, machine, issued, expiry, MAC
	tokenPrefix  = "wst_"
)

// challenge makes a challenge for machine mk, good once until it expires.
func (s *sessions) challenge(mk wire.MachinePublic, now time.Time) (wire.ChallengeResponse, error) {
	exp := now.Add(s.challengeTTL)
	b := make([]byte, 1+nonceLen, challengeLen)
	b[0] = authVersion
	rand.Read(b[1:])
	b = binary.BigEndian.AppendUint64(b, uint64(exp.UnixNano()))
	b = append(b, s.challengeMAC(b, mk)...)
	return wire.ChallengeResponse{Challenge: b, Expires: time.Unix(0, exp.UnixNano())}, nil
}

// challengeMAC authenticates a challenge's body (all but the MAC) for mk.
func (s *sessions) challengeMAC(body []byte, mk wire.MachinePublic) []byte {
	m := hmac.New(sha256.New, s.challengeKey[:])
	m.Write(body)
	m.Write(mk[:])
	return m.Sum(nil)
}

// checkChallenge verifies that c was issued by this process for mk and has
// not expired, and returns its nonce.
func (s *sessions) checkChallenge(c []byte, mk wire.MachinePublic, now time.Time) ([nonceLen]byte, time.Time, error) {
	var nonce [nonceLen]byte
	if len(c) != challengeLen || c[0] != authVersion {
		return nonce, time.Time{}, errBadChallenge
	}
	body, mac := c[:challengeLen-macLen], c[challengeLen-macLen:]
	if !hmac.Equal(mac, s.challengeMAC(body, mk)) {
		return nonce, time.Time{}, errBadChallenge
	}
	exp := time.Unix(0, int64(binary.BigEndian.Uint64(body[1+nonceLen:])))
	if now.After(exp) {
		return nonce, time.Time{}, errBadChallenge
	}
	copy(nonce[:], body[1:])
	return nonce, exp, nil
}

// open verifies a signed challenge and returns a new session token. The
// challenge is used up by this call whatever its outcome; with shared
// keys, a correctly signed one is also recorded in the store, so that it
// opens no second session on another coordinator.
func (s *sessions) open(ctx context.Context, req wire.SessionRequest, now time.Time) (string, time.Time, error) {
	nonce, cexp, err := s.checkChallenge(req.Challenge, req.MachineKey, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if !s.used.Add(nonce) {
		return "", time.Time{}, errBadChallenge
	}
	if !req.MachineKey.Verify(wire.SessionMessage(req.Challenge, req.MachineKey), req.Signature) {
		return "", time.Time{}, errBadSignature
	}
	if s.usedShared != nil {
		fresh, err := s.usedShared.UseChallenge(ctx, nonce[:], cexp, now)
		if err != nil {
			return "", time.Time{}, err
		}
		if !fresh {
			return "", time.Time{}, errBadChallenge
		}
	}
	exp := now.Add(s.sessionTTL)
	return s.token(req.MachineKey, now, exp), time.Unix(0, exp.UnixNano()), nil
}

// token makes the session token of machine mk issued at now.
func (s *sessions) token(mk wire.MachinePublic, now, exp time.Time) string {
	b := make([]byte, 0, wstLen)
	b = append(b, authVersion)
	b = append(b, mk[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(exp.UnixNano()))
	b = append(b, s.tokenMAC(b)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) tokenMAC(body []byte) []byte {
	m := hmac.New(sha256.New, s.tokenKey[:])
	m.Write(body)
	return m.Sum(nil)
}

// lookup returns the session of a bearer token.
func (s *sessions) lookup(tok string, now time.Time) (session, error) {
	mk, issued, exp, err := s.parseToken(tok)
	if err != nil || now.After(exp) {
		return session{}, errBadToken
	}
	s.mu.Lock()
	ended, ok := s.revoked[mk]
	s.mu.Unlock()
	if ok && !issued.After(ended) {
		return session{}, errBadToken
	}
	return session{machine: mk, expires: exp}, nil
}

// parseToken checks tok's MAC and returns what it says.
func (s *sessions) parseToken(tok string) (mk wire.MachinePublic, issued, exp time.Time, err error) {
	enc, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(enc) != base64.RawURLEncoding.EncodedLen(wstLen) {
		return mk, issued, exp, errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(b) != wstLen || b[0] != authVersion {
		return mk, issued, exp, errBadToken
	}
	body, mac := b[:wstLen-macLen], b[wstLen-macLen:]
	if !hmac.Equal(mac, s.tokenMAC(body)) {
		return mk, issued, exp, errBadToken
	}
	body = body[copy(mk[:], body[1:])+1:]
	issued = time.Unix(0, int64(binary.BigEndian.Uint64(body)))
	exp = time.Unix(0, int64(binary.BigEndian.Uint64(body[8:])))
	return mk, issued, exp, nil
}

// revokeMachine ends every session of machine mk (node removed): tokens
// issued until now are refused. The machine may open a new session by
// signing a new challenge; what it may do with it is decided per request.
func (s *sessions) revokeMachine(mk wire.MachinePublic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[mk] = time.Now()
}

// sweep forgets revocations older than a session's lifetime: every token
// they refuse has expired by then.
func (s *sessions) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for mk, t := range s.revoked {
		if now.Sub(t) > s.sessionTTL {
			delete(s.revoked, mk)
		}
	}
}

// held returns how many entries sessions holds: used challenges and
// revocations. It never exceeds maxUsedChallenges plus the nodes removed
// within a session's lifetime.
func (s *sessions) held() int {
	s.mu.Lock()
	n := len(s.revoked)
	s.mu.Unlock()
	return n + s.used.Len()
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

// sessionOf authenticates a control request by its session token.
func (s *core) sessionOf(r *http.Request) (session, error) {
	tok, err := bearer(r)
	if err != nil {
		return session{}, err
	}
	return s.sess.lookup(tok, time.Now())
}

// nodeOf authenticates a control request and returns the caller's node.
func (s *core) nodeOf(r *http.Request) (store.Node, error) {
	ss, err := s.sessionOf(r)
	if err != nil {
		return store.Node{}, err
	}
	return s.nodeOfSession(r, ss)
}

// nodeOfSession returns the node of an authenticated session.
func (s *core) nodeOfSession(r *http.Request, ss session) (store.Node, error) {
	n, err := s.st.NodeByMachineKey(r.Context(), store.MachinePublic(ss.machine))
	if errors.Is(err, store.ErrNotFound) {
		return store.Node{}, errNotNode
	}
	return n, err
}
