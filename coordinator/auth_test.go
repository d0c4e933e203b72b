package coordinator

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// signedRequest asks s for a challenge for mk and signs it.
func signedRequest(t testing.TB, s *sessions, mk wire.MachinePrivate, now time.Time) wire.SessionRequest {
	t.Helper()
	ch, err := s.challenge(mk.Public(), now)
	if err != nil {
		t.Fatal(err)
	}
	return wire.SessionRequest{MachineKey: mk.Public(), Challenge: ch.Challenge, Signature: mk.Sign(wire.SessionMessage(ch.Challenge, mk.Public()))}
}

func TestSessionHandshake(t *testing.T) {
	now := time.Now()
	mk, _ := wire.NewMachinePrivate()
	other, _ := wire.NewMachinePrivate()
	tests := []struct {
		name string
		// req makes the session request from a coordinator's sessions s.
		req  func(s *sessions) wire.SessionRequest
		at   time.Time
		want error
	}{
		{"signed challenge", func(s *sessions) wire.SessionRequest { return signedRequest(t, s, mk, now) }, now, nil},
		{"at the challenge's last moment", func(s *sessions) wire.SessionRequest { return signedRequest(t, s, mk, now) }, now.Add(30 * time.Second), nil},
		{"challenge expired", func(s *sessions) wire.SessionRequest { return signedRequest(t, s, mk, now) }, now.Add(31 * time.Second), errBadChallenge},
		{"challenge of another machine", func(s *sessions) wire.SessionRequest {
			req := signedRequest(t, s, other, now)
			req.MachineKey, req.Signature = mk.Public(), mk.Sign(wire.SessionMessage(req.Challenge, mk.Public()))
			return req
		}, now, errBadChallenge},
		{"challenge of another coordinator", func(*sessions) wire.SessionRequest {
			return signedRequest(t, newSessions(30*time.Second, time.Hour), mk, now)
		}, now, errBadChallenge},
		{"challenge expiry moved", func(s *sessions) wire.SessionRequest {
			req := signedRequest(t, s, mk, now)
			req.Challenge[1+nonceLen]++
			req.Signature = mk.Sign(wire.SessionMessage(req.Challenge, mk.Public()))
			return req
		}, now, errBadChallenge},
		{"challenge truncated", func(s *sessions) wire.SessionRequest {
			req := signedRequest(t, s, mk, now)
			req.Challenge = req.Challenge[:challengeLen-1]
			return req
		}, now, errBadChallenge},
		{"signature of another key", func(s *sessions) wire.SessionRequest {
			req := signedRequest(t, s, mk, now)
			req.Signature = other.Sign(wire.SessionMessage(req.Challenge, mk.Public()))
			return req
		}, now, errBadSignature},
		{"no signature", func(s *sessions) wire.SessionRequest {
			req := signedRequest(t, s, mk, now)
			req.Signature = nil
			return req
		}, now, errBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSessions(30*time.Second, time.Hour)
			tok, exp, err := s.open(context.Background(), tt.req(s), tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("open: %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			ss, err := s.lookup(tok, tt.at)
			if err != nil || ss.machine != mk.Public() || !ss.expires.Equal(exp) {
				t.Fatalf("lookup: %+v, %v; want the session of %v until %v", ss, err, mk.Public(), exp)
			}
		})
	}
}

func TestChallengeIsGoodOnce(t *testing.T) {
	s := newSessions(30*time.Second, time.Hour)
	mk, _ := wire.NewMachinePrivate()
	req := signedRequest(t, s, mk, time.Now())
	if _, _, err := s.open(context.Background(), req, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.open(context.Background(), req, time.Now()); !errors.Is(err, errBadChallenge) {
		t.Fatalf("replayed session request: %v, want errBadChallenge", err)
	}
}

func TestSessionTokenChecks(t *testing.T) {
	now := time.Now()
	s := newSessions(30*time.Second, time.Hour)
	mk, _ := wire.NewMachinePrivate()
	good, _, err := s.open(context.Background(), signedRequest(t, s, mk, now), now)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, tokenPrefix))
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name string
		tok  string
		at   time.Time
	}{
		{"expired", good, now.Add(time.Hour + time.Second)},
		{"other coordinator's", newSessions(30*time.Second, time.Hour).token(mk.Public(), now, now.Add(time.Hour)), now},
		{"machine changed", flip(1), now},
		{"expiry changed", flip(1 + 32 + 8), now},
		{"MAC changed", flip(len(raw) - 1), now},
		{"version changed", flip(0), now},
		{"no prefix", strings.TrimPrefix(good, tokenPrefix), now},
		{"truncated", good[:len(good)-1], now},
		{"padded", good + "=", now},
		{"empty", "", now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ss, err := s.lookup(tt.tok, tt.at); !errors.Is(err, errBadToken) {
				t.Fatalf("lookup: %+v, %v; want errBadToken", ss, err)
			}
		})
	}
}

func TestRevokedSessionsStayRevoked(t *testing.T) {
	s := newSessions(30*time.Second, time.Hour)
	mk, _ := wire.NewMachinePrivate()
	other, _ := wire.NewMachinePrivate()
	before, _, _ := s.open(context.Background(), signedRequest(t, s, mk, time.Now()), time.Now())
	kept, _, _ := s.open(context.Background(), signedRequest(t, s, other, time.Now()), time.Now())
	s.revokeMachine(mk.Public())
	if _, err := s.lookup(before, time.Now()); !errors.Is(err, errBadToken) {
		t.Fatalf("token issued before the revocation: %v, want errBadToken", err)
	}
	if _, err := s.lookup(kept, time.Now()); err != nil {
		t.Fatalf("another machine's token: %v", err)
	}
	after, _, _ := s.open(context.Background(), signedRequest(t, s, mk, time.Now()), time.Now())
	if _, err := s.lookup(after, time.Now()); err != nil {
		t.Fatalf("new session after the revocation: %v", err)
	}
	s.sweep(time.Now().Add(30 * time.Minute))
	if _, err := s.lookup(before, time.Now()); !errors.Is(err, errBadToken) {
		t.Fatal("a sweep within a session's lifetime forgot the revocation")
	}
	s.sweep(time.Now().Add(time.Hour + time.Second))
	if n := len(s.revoked); n != 0 {
		t.Fatalf("after a session lifetime sessions holds %d revocations, want 0", n)
	}
}

// FuzzSessionCredentials feeds arbitrary tokens and challenges to the
// decoders: none may panic, and none may be accepted unless it is exactly
// what this coordinator would have issued.
func FuzzSessionCredentials(f *testing.F) {
	s := newSessions(30*time.Second, time.Hour)
	mk, _ := wire.NewMachinePrivate()
	now := time.Now()
	ch, _ := s.challenge(mk.Public(), now)
	f.Add(s.token(mk.Public(), now, now.Add(time.Hour)), ch.Challenge)
	f.Add("wst_", []byte{authVersion})
	f.Add("wst_"+strings.Repeat("A", base64.RawURLEncoding.EncodedLen(wstLen)), make([]byte, challengeLen))
	f.Fuzz(func(t *testing.T, tok string, challenge []byte) {
		s.lookup(tok, now)
		if mk, issued, exp, err := s.parseToken(tok); err == nil && s.token(mk, issued, exp) != tok {
			t.Fatalf("accepted token %q is not one this coordinator makes", tok)
		}
		if _, exp, err := s.checkChallenge(challenge, mk.Public(), now); err == nil && exp.After(now.Add(30*time.Second)) {
			t.Fatalf("accepted challenge %x lives past its TTL", challenge)
		}
	})
}
