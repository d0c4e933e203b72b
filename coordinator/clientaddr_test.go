package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// forwardedFor is a transport that sets X-Forwarded-For on every request,
// as a reverse proxy does, or as any client can.
type forwardedFor struct {
	rt  http.RoundTripper
	xff func() string
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.xff())
	return f.rt.RoundTrip(r)
}

// clientVia is an HTTP client whose connections come from the loopback
// address local and whose requests carry X-Forwarded-For: xff().
func clientVia(local string, xff func() string) *http.Client {
	c := clientFrom(local)
	c.Transport = forwardedFor{rt: c.Transport, xff: xff}
	return c
}

// says returns an xff function that always says addr.
func says(addr string) func() string { return func() string { return addr } }

// spoofs returns an xff function that says another address every time.
func spoofs() func() string {
	i := 0
	return func() string { i++; return fmt.Sprintf("203.0.113.%d", i%250+1) }
}

// do sends a JSON request with client and bearer token (if any).
func (c *testCoord) do(client *http.Client, method, path, token string, body any) (int, []byte) {
	c.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.http.URL+path, bytes.NewReader(j))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// uiLoginsUntilLimited opens /ui/login with client until it is answered
// 429, and returns how many calls got through (at most max+1 calls).
func (c *testCoord) uiLoginsUntilLimited(client *http.Client, max int) int {
	c.t.Helper()
	for i := 0; i <= max; i++ {
		if code, _ := c.do(client, "GET", "/ui/login", "", nil); code == http.StatusTooManyRequests {
			return i
		}
	}
	return max + 1
}

// auditSource returns the source of the newest audit event of action.
func (c *testCoord) auditSource(action string) string {
	c.t.Helper()
	evs, err := c.srv.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: action, Order: store.NewestFirst, Limit: 1})
	if err != nil || len(evs) == 0 {
		c.t.Fatalf("no %s event: %v", action, err)
	}
	return evs[0].Source
}

// registerDenied makes a registration refused (a bogus pre-auth key),
// which the audit log records with its source, through client.
func (c *testCoord) registerDenied(client *http.Client) {
	c.t.Helper()
	m := newMachine(c.t)
	c.session(m)
	if code, b := c.do(client, "POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: "wpk_bogus", WGKey: m.wg.Public(), Hostname: "x"}); code != http.StatusForbidden {
		c.t.Fatalf("register with a bogus key: %d %s", code, b)
	}
}

// uiLoginVia logs carol in to the admin UI with a browser whose requests
// go through client's transport.
func (c *testCoord) uiLoginVia(client *http.Client) {
	c.t.Helper()
	b := devidptest.NewBrowser()
	b.Client.Transport = client.Transport
	if p, err := b.Login(c.t.Context(), c.http.URL+"/ui/login", carol); err != nil || p.Status != http.StatusOK {
		c.t.Fatalf("ui login: %v %+v", err, p)
	}
}

// TestForwardedForIgnoredFromUntrustedPeer: without a trusted proxy, a
// client's X-Forwarded-For changes nothing: a new address in every
// request does not escape the per-source limit, and the audit log (of the
// control API and of the admin UI) records the TCP peer.
func TestForwardedForIgnoredFromUntrustedPeer(t *testing.T) {
	c := startCoordListening(t, func(cfg *Config) { cfg.LoginEvery, cfg.LoginBurst = time.Hour, 3 })
	spoofer := clientVia("127.0.0.1", spoofs())
	if n := c.uiLoginsUntilLimited(spoofer, 10); n != 3 {
		t.Errorf("a client saying another address each time got %d logins through, want the burst of 3", n)
	}
	c.registerDenied(spoofer)
	if src := c.auditSource("node.register_denied"); src != "127.0.0.1" {
		t.Errorf("audit source %q, want the TCP peer 127.0.0.1", src)
	}
	c.uiLoginVia(clientVia("127.0.0.2", says("198.51.100.9")))
	if src := c.auditSource("admin.login"); src != "127.0.0.2" {
		t.Errorf("admin login audit source %q, want the TCP peer 127.0.0.2", src)
	}
}

// TestTrustedProxyClientAddress: behind a reverse proxy (127.0.0.1,
// trusted), two clients are limited separately, each by the address the
// proxy says, in the per-source rate limit and the pending-login bound,
// and the audit log records that address; a client that is not the proxy
// (127.0.0.2) gains nothing by sending the header.
func TestTrustedProxyClientAddress(t *testing.T) {
	c := startCoordListening(t, func(cfg *Config) {
		cfg.LoginEvery, cfg.LoginBurst = time.Hour, 3
		cfg.MaxPendingLoginsPerSource = 2
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	alice, bob := clientVia("127.0.0.1", says("198.51.100.1")), clientVia("127.0.0.1", says("198.51.100.2"))
	if n := c.uiLoginsUntilLimited(alice, 10); n != 3 {
		t.Fatalf("first client behind the proxy: %d logins before 429, want 3", n)
	}
	if n := c.uiLoginsUntilLimited(bob, 10); n != 3 {
		t.Errorf("second client behind the proxy, after the first was limited: %d logins before 429, want 3", n)
	}
	if n := c.uiLoginsUntilLimited(clientVia("127.0.0.2", spoofs()), 10); n != 3 {
		t.Errorf("an untrusted peer saying another address each time: %d logins before 429, want 3", n)
	}

	// Pending logins, of two other clients behind the proxy: the third of
	// one is within the rate limit's burst but past the bound.
	pending := func(client *http.Client) (int, string) {
		m := newMachine(t)
		c.session(m)
		code, b := c.do(client, "POST", wire.PathLogin, m.token, wire.LoginRequest{WGKey: m.wg.Public(), Hostname: "laptop"})
		return code, string(b)
	}
	carl, dora := clientVia("127.0.0.1", says("198.51.100.11")), clientVia("127.0.0.1", says("198.51.100.12"))
	for i := range 2 {
		if code, b := pending(carl); code != http.StatusOK {
			t.Fatalf("pending login %d of a client: %d %s", i, code, b)
		}
	}
	if code, b := pending(carl); code != http.StatusTooManyRequests || !strings.Contains(b, "pending logins") {
		t.Errorf("third pending login of the client: %d %s, want 429 for too many pending logins", code, b)
	}
	if code, b := pending(dora); code != http.StatusOK {
		t.Errorf("pending login of another client behind the same proxy: %d %s, want 200", code, b)
	}

	c.registerDenied(alice)
	if src := c.auditSource("node.register_denied"); src != "198.51.100.1" {
		t.Errorf("audit source behind the proxy %q, want the client 198.51.100.1", src)
	}
	c.registerDenied(clientVia("127.0.0.2", says("198.51.100.1")))
	if src := c.auditSource("node.register_denied"); src != "127.0.0.2" {
		t.Errorf("audit source from an untrusted peer %q, want its own address 127.0.0.2", src)
	}
	c.uiLoginVia(clientVia("127.0.0.1", says("198.51.100.3")))
	if src := c.auditSource("admin.login"); src != "198.51.100.3" {
		t.Errorf("admin login audit source behind the proxy %q, want 198.51.100.3", src)
	}
}
