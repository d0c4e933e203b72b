package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// TestPendingLoginFloodDoesNotLockOutPeople: a session costs nothing to
// make, so anyone can ask for interactive logins. One source gets at most
// DefaultMaxPendingPerSource of them (then 429); a flood from many sources that
// fills the table pushes out unopened logins, never one whose link the
// person opened, and a new login still gets in; a machine has one login
// going at a time.
func TestPendingLoginFloodDoesNotLockOutPeople(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	l := pendingLogins{st: st, size: 500}
	add := func(src string, i int) error {
		m := newMachine(t)
		p := newPendingLogin(m.priv.Public(), wire.LoginRequest{}, src, t0)
		p.source = netip.MustParsePrefix(src + "/32")
		_, err := l.add(ctx, p, t0)
		return err
	}
	victim := newPendingLogin(newMachine(t).priv.Public(), wire.LoginRequest{}, "198.51.100.7", t0)
	victim.source = netip.MustParsePrefix("198.51.100.7/32")
	victimID, err := l.add(ctx, victim, t0)
	if err != nil {
		t.Fatal(err)
	}
	// The person opened the link the device printed.
	if _, _, err := l.open(ctx, victimID, t0); err != nil {
		t.Fatal(err)
	}

	for i := range DefaultMaxPendingPerSource {
		if err := add("192.0.2.1", i); err != nil {
			t.Fatalf("login %d from one source: %v", i, err)
		}
	}
	if err := add("192.0.2.1", 0); statusOf(err) != http.StatusTooManyRequests {
		t.Fatalf("login past the per-source bound: %v (status %d), want 429", err, statusOf(err))
	}

	// Many sources fill the table, and keep going well past it.
	for i := range 2 * l.size {
		src := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if err := add(src, i); err != nil {
			t.Fatalf("flood login %d: %v", i, err)
		}
	}
	if n, err := st.CountPendingLogins(ctx); err != nil || n > l.size {
		t.Fatalf("%d pending logins (%v), bound %d", n, err, l.size)
	}
	if _, err := l.get(ctx, victimID, t0); err != nil {
		t.Fatal("the flood pushed out a person's pending login")
	}
	if err := add("203.0.113.9", 0); err != nil {
		t.Fatalf("a person's login while the flood holds the table: %v", err)
	}

	// The same machine asking again replaces its unopened login.
	m := newMachine(t)
	first := newPendingLogin(m.priv.Public(), wire.LoginRequest{}, "203.0.113.10", t0)
	first.source = netip.MustParsePrefix("203.0.113.10/32")
	firstID, _ := l.add(ctx, first, t0)
	second := newPendingLogin(m.priv.Public(), wire.LoginRequest{}, "203.0.113.10", t0)
	second.source = first.source
	if _, err := l.add(ctx, second, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.get(ctx, firstID, t0); err == nil {
		t.Error("a machine's second login left its first one pending")
	}
}

// TestPendingLoginsPerSourceOverHTTP: the bound holds through the control
// API, with a Retry-After, and another source is unaffected.
func TestPendingLoginsPerSourceOverHTTP(t *testing.T) {
	c := startCoordListening(t, unlimited)
	for i := range DefaultMaxPendingPerSource {
		c.startLogin(newMachine(t), fmt.Sprintf("flood-%d", i), "linux")
	}
	m := newMachine(t)
	c.session(m)
	req, _ := http.NewRequest("POST", c.http.URL+wire.PathLogin, jsonBody(wire.LoginRequest{WGKey: m.wg.Public(), Hostname: "one-more"}))
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("login %d from one address: %s (Retry-After %q), want 429 with Retry-After", DefaultMaxPendingPerSource+1, resp.Status, resp.Header.Get("Retry-After"))
	}
	other := newMachine(t)
	c.session(other)
	req, _ = http.NewRequest("POST", c.http.URL+wire.PathLogin, jsonBody(wire.LoginRequest{WGKey: other.wg.Public(), Hostname: "elsewhere"}))
	req.Header.Set("Authorization", "Bearer "+other.token)
	resp, err = clientFrom("127.0.0.2").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login from another address: %s", resp.Status)
	}
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}
