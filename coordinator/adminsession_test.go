package coordinator

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// startDevCoord runs a dev-mode coordinator with a development OIDC
// provider (see withDevIdP) on a loopback port chosen first, since the
// provider's redirect URIs name it.
func startDevCoord(t *testing.T) *testCoord {
	t.Helper()
	return startCoordListening(t, nil)
}

var carol = devidptest.Credentials{Username: "carol", Password: "carol"} // group admins: owner in dev mode

// uiLogin logs a person in to the admin UI through the dev provider's
// login form and returns their browser, holding the session cookie.
func (c *testCoord) uiLogin(creds devidptest.Credentials) (*devidptest.Browser, *devidptest.Page) {
	c.t.Helper()
	b := devidptest.NewBrowser()
	p, err := b.Login(c.t.Context(), c.http.URL+"/ui/login", creds)
	if err != nil {
		c.t.Fatalf("ui login as %s: %v", creds.Username, err)
	}
	return b, p
}

// uiGet requests path with b's cookies, without following redirects.
func (c *testCoord) uiGet(b *devidptest.Browser, path string) *http.Response {
	c.t.Helper()
	client := &http.Client{Jar: b.Client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(c.http.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// refused reports whether resp turns a session away: 401/403, or a
// redirect to the login page.
func refused(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusSeeOther, http.StatusFound:
		return strings.HasPrefix(resp.Header.Get("Location"), "/ui/login")
	}
	return false
}

// TestDisabledUserLosesAdminUI: an admin logged in to the UI (a real
// session cookie from a real OIDC login) is disabled: their next page and
// API request are refused, and a new UI login is refused. The check runs
// on every request, so a disable this replica did not make (written
// straight to the store) ends the session too.
func TestDisabledUserLosesAdminUI(t *testing.T) {
	c := startDevCoord(t)
	b, p := c.uiLogin(carol)
	if p.Status != http.StatusOK || p.URL.Path != "/ui/devices" {
		t.Fatalf("ui login ended on %s: %d", p.URL, p.Status)
	}
	for _, path := range []string{"/ui/devices", wire.PathAdminNodes} {
		if resp := c.uiGet(b, path); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the session: %d", path, resp.StatusCode)
		}
	}

	var u wire.AdminUser
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, &u); code != http.StatusOK || !u.Disabled {
		t.Fatalf("disable carol: %d %+v", code, u)
	}
	for _, path := range []string{"/ui/devices", wire.PathAdminNodes, "/ui/users"} {
		if resp := c.uiGet(b, path); !refused(resp) {
			t.Errorf("GET %s after the disable: %d %s, want refused", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if _, p := c.uiLogin(carol); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "disabled") {
		t.Errorf("new ui login of a disabled admin: %d %s", p.Status, p.URL)
	}
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("enable carol: %d", code)
	}
	if resp := c.uiGet(b, "/ui/devices"); !refused(resp) {
		t.Errorf("the old session came back after the enable: %d", resp.StatusCode)
	}

	t.Run("disabled elsewhere", func(t *testing.T) {
		b, _ := c.uiLogin(carol)
		if resp := c.uiGet(b, "/ui/devices"); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /ui/devices after logging in again: %d", resp.StatusCode)
		}
		// Another replica's disable reaches this one through the store only.
		if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), true); err != nil {
			t.Fatal(err)
		}
		if resp := c.uiGet(b, "/ui/devices"); !refused(resp) {
			t.Errorf("GET /ui/devices after a disable in the store: %d, want refused", resp.StatusCode)
		}
	})
}

// TestAdminSessionEndedElsewhereStaysEnded: a session refused because its
// person was disabled by another replica (written straight to the store,
// so this replica ended no session itself) is ended, not only refused:
// once the person is enabled again, the old cookie does nothing, and the
// API tells its holder to log in (401) rather than that it may not (403).
func TestAdminSessionEndedElsewhereStaysEnded(t *testing.T) {
	c := startDevCoord(t)
	b, _ := c.uiLogin(carol)
	var u wire.AdminUser
	if code := c.admin("GET", wire.PathAdminUsers+"/carol@example.com", nil, &u); code != http.StatusOK {
		t.Fatalf("get carol: %d", code)
	}
	if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), true); err != nil {
		t.Fatal(err)
	}
	if resp := c.uiGet(b, wire.PathAdminNodes); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with the session after a disable elsewhere: %d, want 401 (session ended)", resp.StatusCode)
	}
	if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), false); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{wire.PathAdminNodes, "/ui/devices"} {
		if resp := c.uiGet(b, path); !refused(resp) {
			t.Errorf("GET %s with the old session after the enable: %d, want refused", path, resp.StatusCode)
		}
	}
}
