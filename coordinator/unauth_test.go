package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// unlimited lifts the per-source limits, for tests that flood on purpose
// from the one loopback address.
func unlimited(cfg *Config) {
	cfg.ControlEvery, cfg.ControlBurst = time.Nanosecond, 1<<30
	cfg.LoginEvery, cfg.LoginBurst = time.Nanosecond, 1<<30
}

// startCoordListening is startCoordWith on a listener opened first, so
// that the coordinator knows its own address and its development IdP
// works: logins through it run end to end.
func startCoordListening(t testing.TB, tweak func(*Config)) *testCoord {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var c *testCoord
	c = startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.Listen = ln.Addr().String()
		if tweak != nil {
			tweak(cfg)
		}
	})
	c.http.Close()
	c.http = httptest.NewUnstartedServer(c.srv.Handler())
	c.http.Listener.Close()
	c.http.Listener = ln
	c.http.EnableHTTP2 = false
	c.http.Start()
	t.Cleanup(func() {
		c.http.CloseClientConnections()
		c.http.Close()
	})
	return c
}

// clientFrom is an HTTP client whose connections come from the loopback
// address local, and which does not follow redirects.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send makes one request with client and returns the response, its body
// read.
func (c *testCoord) send(client *http.Client, method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.http.URL+path, rd)
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestUnauthenticatedSessionsHoldNoServerState floods the session
// handshake as anyone can, without a credential: more challenges than the
// old challenge table held (100k), more session requests than the old
// session table held (200k), and real sessions of self-made machine keys
// over HTTP. The coordinator must hold no more than its fixed bound
// afterwards, and a real device must still enrol (the old code answered
// every challenge 500 and every session 503 once its tables were full).
func TestUnauthenticatedSessionsHoldNoServerState(t *testing.T) {
	c := startCoordWith(t, testPolicy, unlimited)
	s := c.srv.sess
	now := time.Now()
	attacker, _ := wire.NewMachinePrivate()
	mk := attacker.Public()
	const flood = 300000
	for i := range flood {
		ch, err := s.challenge(mk, now)
		if err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
		// Unsigned, so cheap to send; the challenge is still used up.
		if _, _, err := s.open(context.Background(), wire.SessionRequest{MachineKey: mk, Challenge: ch.Challenge}, now); !errors.Is(err, errBadSignature) {
			t.Fatalf("unsigned session request %d: %v", i, err)
		}
	}
	for range 1000 { // real sessions of throwaway machine keys, over HTTP
		c.session(newMachine(t))
	}
	if n := s.held(); n > maxUsedChallenges {
		t.Fatalf("after %d challenges and sessions the coordinator holds %d entries, over its bound %d", flood, n, maxUsedChallenges)
	}
	device := newMachine(t)
	if code, n := c.register(device, c.authKey([]string{"tag:camera"}, false, ""), "cam1"); code != 200 || n.ID == 0 {
		t.Fatalf("a real device's enrolment after the flood: %d", code)
	}
	ms := c.openMap(device, 0)
	if m := ms.next(); m.Self == nil {
		t.Fatalf("the device's first map has no self: %+v", m)
	}
}

// TestUILoginFloodDoesNotLockOutAdmins starts 10,000 admin UI logins
// without finishing them, as anyone can, then an admin logs in through the
// development IdP. The old code kept each started login server-side, up to
// 10,000, and answered every later login 500.
func TestUILoginFloodDoesNotLockOutAdmins(t *testing.T) {
	c := startCoordListening(t, unlimited)
	flooder := clientFrom("127.0.0.1")
	for i := range 10000 {
		resp, body := c.send(flooder, "GET", "/ui/login", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET /ui/login %d: %d %s", i, resp.StatusCode, body)
		}
	}
	page, err := devidptest.NewBrowser().Login(t.Context(), c.http.URL+"/ui/login?next=/ui/audit",
		devidptest.Credentials{Username: "carol", Password: "carol"}) // an owner in dev mode
	if err != nil {
		t.Fatalf("admin login after the flood: %v", err)
	}
	if page.Status != http.StatusOK || page.URL.Path != "/ui/audit" {
		t.Fatalf("admin login after the flood ended on %s: %d %s", page.URL, page.Status, page.Body)
	}
}

// TestRateLimitPerSource floods the unauthenticated endpoints from
// 127.0.0.1: past its limit that source gets 429 with Retry-After, while
// 127.0.0.2 and the already authenticated calls of a node at 127.0.0.1 go
// on, and the source is let in again once the wait it was told is over.
func TestRateLimitPerSource(t *testing.T) {
	c := startCoordListening(t, func(cfg *Config) {
		cfg.ControlEvery, cfg.ControlBurst = time.Second, 20
		cfg.LoginEvery, cfg.LoginBurst = time.Second, 5
	})
	node := c.mustRegister([]string{"tag:camera"}, "cam1") // 2 control calls from 127.0.0.1
	flooder, neighbour := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	mk, _ := wire.NewMachinePrivate()
	challenge := wire.ChallengeRequest{MachineKey: mk.Public()}
	tests := []struct {
		name, method, path string
		body               any
		burst              int
	}{
		{"challenge", "POST", wire.PathChallenge, challenge, 20 - 2},
		{"ui login", "GET", "/ui/login", nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			for i := 0; i <= tt.burst; i++ {
				if resp, body = c.send(flooder, tt.method, tt.path, tt.body); resp.StatusCode == http.StatusTooManyRequests {
					break
				}
			}
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("call %d past the burst: %d %s, want 429", tt.burst+1, resp.StatusCode, body)
			}
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || wait < 1 || wait > 2 {
				t.Fatalf("Retry-After %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
			}
			if resp, body := c.send(neighbour, tt.method, tt.path, tt.body); resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				t.Fatalf("another source: %d %s", resp.StatusCode, body)
			}
			time.Sleep(time.Duration(wait) * time.Second)
			if resp, body := c.send(flooder, tt.method, tt.path, tt.body); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("after the Retry-After wait: %d %s", resp.StatusCode, body)
			}
		})
	}
	// Calls with a session are not counted against the source.
	for i := range 30 {
		if code, b := c.call("POST", wire.PathReport, node.token, wire.Report{}); code != http.StatusNoContent && code != http.StatusOK {
			t.Fatalf("node report %d from the throttled source: %d %s", i, code, b)
		}
	}
	var e wire.Error
	for range 30 {
		resp, b := c.send(flooder, "POST", wire.PathSession, wire.SessionRequest{MachineKey: mk.Public()})
		if resp.StatusCode == http.StatusTooManyRequests {
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Fatalf("429 on the control API is not a JSON error: %s", b)
			}
			return
		}
	}
	t.Fatal("30 session calls at once never hit the limit")
}
