package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/localapi"
)

// TestLoginProxiesAndDown is the desktop client's life: log in through
// the browser, reach the camera's granted port through the SOCKS5 and HTTP
// CONNECT proxies (by name and by overlay address) but not its other
// port, log out (the key expires everywhere and the proxies refuse), and
// log in again with a new key.
func TestLoginProxiesAndDown(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	ctx := context.Background()
	if st, _ := l.api.Status(ctx); person(st).State != localapi.StateLoggedOut {
		t.Fatalf("state before login: %s", person(st).State)
	}
	if _, err := socksConnect(l.socks, "cam1", w.granted); err == nil {
		t.Fatal("socks5 connected before login")
	}

	res, loggedIn := l.login(w, "alice", "ops", "")
	if res.Error != "" || res.User != "alice@example.com" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	if ttl := time.Until(res.KeyExpiry); ttl < 11*time.Hour || ttl > 12*time.Hour {
		t.Errorf("session key lives %v, want 12h", ttl)
	}
	reach(t, "socks5", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })
	t.Logf("figure: login finished in the browser to first byte echoed by the device through SOCKS5: %v", time.Since(loggedIn))

	st, err := l.api.Status(ctx)
	if err != nil || person(st).State != localapi.StateLoggedIn || person(st).User != "alice@example.com" || len(person(st).Devices) != 1 {
		t.Fatalf("status after login: %+v, %v", st, err)
	}
	cam := person(st).Devices[0]
	if cam.Name != "cam1" || !slices.Equal(cam.Ports, []uint16{w.granted}) || !filter.Allows(cam.Grants, filter.ProtoTCP, w.granted) {
		t.Errorf("device in status: %+v; want only the granted port of the two exposed", cam)
	}
	reach(t, "http connect", func() (net.Conn, error) {
		c, _, err := connectProxy(l.http, cam.IPv4.String(), w.granted)
		return c, err
	})

	// The policy grants only one port: the proxies refuse the other at
	// once, each in its protocol's words for "not allowed".
	if c, err := socksConnect(l.socks, "cam1", w.ungranted); err == nil || err.Error() != "socks5 reply code 2" {
		if c != nil {
			c.Close()
		}
		t.Errorf("socks5 to the ungranted port: %v, want reply 2 (not allowed by ruleset)", err)
	}
	if c, code, err := connectProxy(l.http, "cam1", w.ungranted); err == nil || code != http.StatusForbidden {
		if c != nil {
			c.Close()
		}
		t.Errorf("http connect to the ungranted port: %d %v, want 403", code, err)
	}

	key1 := l.wgKey()
	out, err := l.api.Logout(ctx)
	if err != nil || !out.WasLoggedIn || out.Warning != "" {
		t.Fatalf("logout: %+v, %v", out, err)
	}
	eventually(t, "the camera to drop the logged-out key", func() bool {
		for _, p := range w.camera.Status().Peers {
			if p.User == "alice@example.com" && p.Active {
				return false
			}
		}
		return true
	})
	if _, err := socksConnect(l.socks, "cam1", w.granted); err == nil {
		t.Error("socks5 connected after logout")
	}
	if _, code, _ := connectProxy(l.http, "cam1", w.granted); code != http.StatusServiceUnavailable {
		t.Errorf("http connect after logout: %d, want 503", code)
	}
	if st, _ := l.api.Status(ctx); person(st).State != localapi.StateLoggedOut || !l.wgKey().IsZero() {
		t.Errorf("after logout: state %s, saved key %v", person(st).State, l.wgKey())
	}

	res, _ = l.login(w, "alice", "ops", "")
	if res.Error != "" {
		t.Fatalf("second login: %+v", res)
	}
	if key2 := l.wgKey(); key2.IsZero() || key2 == key1 {
		t.Fatalf("second login's key %v, first %v: want a new key", key2, key1)
	}
	reach(t, "socks5 after the second login", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })
}

// TestLoginRefused checks that the identity provider's refusal reaches
// `ward up` with its reason and leaves the client logged out.
func TestLoginRefused(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	res, _ := l.login(w, "alice", "ops", "MFA required: the ID token shows no second factor")
	if !strings.Contains(res.Error, "MFA required") {
		t.Fatalf("refused login: %+v, want the MFA reason", res)
	}
	if st, _ := l.api.Status(context.Background()); person(st).State != localapi.StateLoggedOut {
		t.Errorf("state after a refused login: %s", person(st).State)
	}
}

// TestSessionExpiresWithoutCoordinator checks that the client drops its
// session when its key expires even while the coordinator is down, and
// says so in its status.
func TestSessionExpiresWithoutCoordinator(t *testing.T) {
	w := newWorld(t, 3*time.Second)
	l := w.startLaptop(nil)
	res, _ := l.login(w, "alice", "ops", "")
	if res.Error != "" {
		t.Fatalf("login: %+v", res)
	}
	w.stopCoord()
	var st localapi.Status
	eventually(t, "the session to expire", func() bool {
		st, _ = l.api.Status(context.Background())
		return person(st).State == localapi.StateExpired
	})
	if !strings.Contains(person(st).Message, "expired") || !l.wgKey().IsZero() {
		t.Errorf("expired status %+v; saved key %v", st, l.wgKey())
	}
	if _, err := socksConnect(l.socks, "cam1", w.granted); err == nil {
		t.Error("socks5 connected after the session expired")
	}
}

// TestStatusPage checks the status page's DNS-rebinding and token
// protections and what it shows.
func TestStatusPage(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	st, err := l.api.Status(context.Background())
	if err != nil || person(st).WebURL == "" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	page, _ := url.Parse(person(st).WebURL)
	tests := []struct {
		name, method, host, path, origin string
		want                             int
	}{
		{"page", "GET", page.Host, page.Path, "", 200},
		{"localhost", "GET", "localhost:" + page.Port(), page.Path, "", 200},
		{"rebound host", "GET", "evil.example", page.Path, "", 403},
		{"rebound host with port", "GET", "evil.example:" + page.Port(), page.Path, "", 403},
		{"no token", "GET", page.Host, "/", "", 403},
		{"wrong token", "GET", page.Host, "/t/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/", "", 403},
		{"stylesheet", "GET", page.Host, page.Path + "style.css", "", 200},
		{"logout without token", "POST", page.Host, "/t//logout", "", 403},
		{"cross-site logout", "POST", page.Host, page.Path + "logout", "http://evil.example", 403},
	}
	for _, tt := range tests {
		code, hdr, _ := fetch(t, tt.method, "http://"+page.Host+tt.path, tt.host, tt.origin)
		if code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, code, tt.want)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", tt.name, csp)
		}
	}
	l.login(w, "alice", "ops", "")
	_, _, body := fetch(t, "GET", person(st).WebURL, page.Host, "")
	for _, want := range []string{"alice@example.com", "cam1", "ward forward", "logged-in"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Error("page has inline script or style")
	}
	code, _, _ := fetch(t, "POST", person(st).WebURL+"logout", page.Host, "http://"+page.Host)
	if code != http.StatusSeeOther {
		t.Errorf("same-origin logout: %d", code)
	}
	if st, _ := l.api.Status(context.Background()); person(st).State != localapi.StateLoggedOut {
		t.Errorf("state after the page's logout: %s", person(st).State)
	}
}

// TestStatusPageOffersOnlyGrantedPorts: the camera exposes two ports and
// the policy grants alice one; her status page offers commands for that
// one only, and says what the policy grants her.
func TestStatusPageOffersOnlyGrantedPorts(t *testing.T) {
	w, _, body := alicesPage(t)
	if !strings.Contains(body, fmt.Sprintf("cam1:%d", w.granted)) {
		t.Errorf("page offers no command for the granted port %d:\n%s", w.granted, body)
	}
	if strings.Contains(body, fmt.Sprintf("cam1:%d", w.ungranted)) {
		t.Errorf("page offers the exposed but ungranted port %d:\n%s", w.ungranted, body)
	}
	if want := fmt.Sprintf("the policy grants you tcp/udp %d; icmp", w.granted); !strings.Contains(body, want) {
		t.Errorf("page lacks %q:\n%s", want, body)
	}
}

// fetch sends one request with Host header host and returns the status,
// headers and body; it does not follow redirects.
func fetch(t *testing.T, method, u, host, origin string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestLoginAfterCoordinatorRestart pins the stale control session: after a
// logout and a coordinator restart (which forgets every session token),
// the daemon's next login got 401 until the daemon was restarted. It must
// open a new machine-key session and go on.
func TestLoginAfterCoordinatorRestart(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" {
		t.Fatalf("first login: %+v", res)
	}
	if res, err := l.api.Logout(context.Background()); err != nil || !res.WasLoggedIn || res.Warning != "" {
		t.Fatalf("logout: %+v, %v", res, err)
	}
	w.restartCoord()
	res, _ := l.login(w, "alice", "ops", "")
	if res.Error != "" {
		t.Fatalf("login after the coordinator's restart: %+v", res)
	}
	reach(t, "socks5 after the restart and login", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })
}

// TestStatusPageShowsFQDNs: the status page names every device, and the
// laptop itself, by its FQDN under the fleet domain as well as by its
// short name (both resolve on every client path).
func TestStatusPageShowsFQDNs(t *testing.T) {
	_, st, body := alicesPage(t)
	if st.Self.FQDN == "" {
		t.Fatalf("status names no FQDN: %+v", st.Self)
	}
	for _, want := range []string{"<code>cam1.ward.internal</code>", `<code id="fqdn">` + st.Self.FQDN + "</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}

// alicesPage starts a world and a laptop, logs alice in and returns the
// world, the laptop's status and its status page.
func alicesPage(t *testing.T) (*world, localapi.Status, string) {
	t.Helper()
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" {
		t.Fatalf("login: %+v", res)
	}
	st, err := l.api.Status(context.Background())
	if err != nil || person(st).WebURL == "" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	page, _ := url.Parse(person(st).WebURL)
	_, _, body := fetch(t, "GET", person(st).WebURL, page.Host, "")
	return w, st, body
}
