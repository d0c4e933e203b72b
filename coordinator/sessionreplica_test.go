package coordinator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// roundRobinHandshakes has machine m make n control requests, each to the
// next of cs (a balancer without sticky sessions), opening a session
// where a request is refused 401 and trying once more, as node/control
// does; it returns how many sessions m opened.
func roundRobinHandshakes(t *testing.T, cs []*testCoord, m *machine, n int) int {
	t.Helper()
	handshakes := 0
	for i := range n {
		c := cs[i%len(cs)]
		if m.token == "" {
			c.session(m)
			handshakes++
		}
		// A login wait for no login: 401 without a session here, 404 with.
		code, b := c.call("GET", wire.PathLoginWait+"?id=none", m.token, nil)
		if code == http.StatusUnauthorized {
			c.session(m)
			handshakes++
			code, b = c.call("GET", wire.PathLoginWait+"?id=none", m.token, nil)
		}
		if code != http.StatusNotFound {
			t.Fatalf("request %d on replica %d: %d %s", i, i%len(cs), code, b)
		}
	}
	return handshakes
}

// TestSessionGoodOnEveryReplica: a node's control session opened on one
// coordinator is good on the others of its PostgreSQL database, so a
// balancer without sticky sessions costs it one handshake, not one per
// change of replica.
func TestSessionGoodOnEveryReplica(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	const requests = 20
	got := roundRobinHandshakes(t, cs, newMachine(t), requests)
	t.Logf("%d requests round-robin over %d replicas: %d handshakes", requests, len(cs), got)
	if got != 1 {
		t.Fatalf("%d handshakes for %d requests over %d replicas, want 1", got, requests, len(cs))
	}
}

// TestSessionAcrossReplicasRefusesForgeries attacks the shared session
// keys: a signed session request replayed to another replica of the
// database opens no second session; a token made under another token key
// (another deployment, or a coordinator on SQLite) and a token whose
// machine key was swapped for another machine's are refused on every
// replica.
func TestSessionAcrossReplicasRefusesForgeries(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	a, b := cs[0], cs[1]
	m := newMachine(t)

	// Replay: a's session request, presented to b as well.
	var ch wire.ChallengeResponse
	code, body := a.call("POST", wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: m.priv.Public()})
	if code != http.StatusOK || json.Unmarshal(body, &ch) != nil {
		t.Fatalf("challenge: %d %s", code, body)
	}
	req := wire.SessionRequest{MachineKey: m.priv.Public(), Challenge: ch.Challenge,
		Signature: m.priv.Sign(wire.SessionMessage(ch.Challenge, m.priv.Public())), ProtocolVersion: wire.ProtocolVersion}
	if code, body := a.call("POST", wire.PathSession, "", req); code != http.StatusOK {
		t.Fatalf("session on a: %d %s", code, body)
	}
	for i, c := range cs {
		if code, body := c.call("POST", wire.PathSession, "", req); code == http.StatusOK || strings.Contains(string(body), tokenPrefix) {
			t.Errorf("the session request replayed to replica %d: %d %s, want refused", i, code, body)
		}
	}

	// A token made under another token key.
	other := newSessions(30*time.Second, time.Hour)
	otherKey := make([]byte, sealKeyLen)
	rand.Read(otherKey)
	if err := other.share(otherKey, nil); err != nil {
		t.Fatal(err)
	}
	foreign := other.token(m.priv.Public(), time.Now(), time.Now().Add(time.Hour))
	random := newSessions(30*time.Second, time.Hour).token(m.priv.Public(), time.Now(), time.Now().Add(time.Hour))

	// A good token of m whose machine key is swapped for victim's.
	victim := newMachine(t)
	good := a.session(m)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, tokenPrefix))
	if err != nil {
		t.Fatal(err)
	}
	vk := victim.priv.Public()
	copy(raw[1:], vk[:])
	swapped := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)

	for name, tok := range map[string]string{"another token key": foreign, "a per-process key": random, "a swapped machine key": swapped} {
		for i, c := range []*testCoord{a, b} {
			if code, body := c.call("GET", wire.PathLoginWait+"?id=none", tok, nil); code != http.StatusUnauthorized {
				t.Errorf("a token made with %s on replica %d: %d %s, want 401", name, i, code, body)
			}
		}
	}
	// The good one works on both.
	for i, c := range cs {
		if code, body := c.call("GET", wire.PathLoginWait+"?id=none", good, nil); code != http.StatusNotFound {
			t.Errorf("m's own token on replica %d: %d %s", i, code, body)
		}
	}
}
