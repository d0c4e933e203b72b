package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/webtest"
)

// TestNoAccessPage: a member whose groups map to no role sees a clear "no
// access" page (403) everywhere, and the API refuses them too.
func TestNoAccessPage(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleNone)
	for _, p := range []string{"/ui/devices", "/ui/policy", "/ui/audit", "/ui/keys"} {
		resp := a.do("GET", p, "", nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "No access") || !strings.Contains(body, "nobody@example.com") {
			t.Errorf("GET %s: %s, no-access page shown: %v", p, resp.Status, strings.Contains(body, "No access"))
		}
		if strings.Contains(body, `href="/ui/users"`) {
			t.Errorf("GET %s: the no-access page shows the navigation", p)
		}
	}
	if resp := a.api("GET", "/ward/v1/admin/nodes", "", false); resp.StatusCode != http.StatusForbidden {
		t.Errorf("API as a member with no role: %s, want 403", resp.Status)
	}
}

// TestSessionExpiry: a session ends on the server after its TTL, for pages
// and API alike.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAdmin)
	if resp := a.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %s", resp.Status)
	}
	e.clock.Advance(59 * time.Minute)
	if resp := a.api("GET", "/ward/v1/admin/nodes", "", false); resp.StatusCode != http.StatusOK {
		t.Fatalf("session before its TTL: %s", resp.Status)
	}
	e.clock.Advance(2 * time.Minute)
	resp := a.do("GET", "/ui/devices", "", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
		t.Errorf("expired session on a page: %s to %q, want a redirect to login", resp.Status, resp.Header.Get("Location"))
	}
	if resp := a.api("GET", "/ward/v1/admin/nodes", "", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired session on the API: %s, want 401", resp.Status)
	}
	if resp := a.form("/ui/devices/cam-1/expire", nil, true); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired session posting a form: %s, want 403", resp.Status)
	}
}

// TestSessionCookie: HttpOnly, SameSite=Lax, Secure when configured, and
// expiring with the session; the login cookie alike.
func TestSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		e := newEnv(t, func(c *web.Config) { c.SecureCookies = secure })
		a := e.anonymous()
		resp := a.do("GET", "/ui/login", "", nil)
		checkCookie(t, resp, "ward_login", secure)
		state := mustURL(resp.Header.Get("Location")).Query().Get("state")
		p := people[admin.RoleAdmin]
		resp = a.do("POST", "/idp/login", "state="+state+"&email="+p.Email+"&password="+p.Password,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		resp = a.do("GET", resp.Header.Get("Location"), "", nil)
		if ck := checkCookie(t, resp, "ward_session", secure); ck != nil {
			if d := ck.Expires.Sub(e.clock.Now()); d < 59*time.Minute || d > time.Hour+time.Minute {
				t.Errorf("session cookie expires in %v, want the 1h TTL", d)
			}
		}
	}
}

func checkCookie(t *testing.T, resp *http.Response, name string, secure bool) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			if !c.HttpOnly || c.Secure != secure || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("%s: HttpOnly=%v Secure=%v (want %v) SameSite=%v", name, c.HttpOnly, c.Secure, secure, c.SameSite)
			}
			return c
		}
	}
	t.Errorf("no %s cookie set", name)
	return nil
}

// TestCallbackNeedsLoginCookie: a callback URL from someone else's login
// (login CSRF) does not start a session in this browser.
func TestCallbackNeedsLoginCookie(t *testing.T) {
	e := newEnv(t)
	attacker := e.anonymous()
	resp := attacker.do("GET", "/ui/login", "", nil)
	state := mustURL(resp.Header.Get("Location")).Query().Get("state")
	p := people[admin.RoleAuditor]
	resp = attacker.do("POST", "/idp/login", "state="+state+"&email="+p.Email+"&password="+p.Password,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	callback := resp.Header.Get("Location")
	victim := e.anonymous()
	if resp := victim.do("GET", callback, "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign callback: %s, want 403", resp.Status)
	}
	if resp := victim.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("victim has a session after a foreign callback: %s", resp.Status)
	}
}

// TestLoginRedirectStaysLocal: ?next= cannot send the browser off-site.
func TestLoginRedirectStaysLocal(t *testing.T) {
	e := newEnv(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/ui/../x", "/ui/devices?q=1"} {
		a := e.anonymous()
		resp := a.do("GET", "/ui/login?next="+mustEscape(next), "", nil)
		state := mustURL(resp.Header.Get("Location")).Query().Get("state")
		p := people[admin.RoleAdmin]
		resp = a.do("POST", "/idp/login", "state="+state+"&email="+p.Email+"&password="+p.Password,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		resp = a.do("GET", resp.Header.Get("Location"), "", nil)
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/ui/") || strings.HasPrefix(loc, "//") {
			t.Errorf("next=%q redirects to %q", next, loc)
		}
	}
}

// TestPagesRefuseAPIKeys: an API key is for the JSON API, not for pages.
func TestPagesRefuseAPIKeys(t *testing.T) {
	e := newEnv(t)
	resp := e.bearer(ownerKey, "GET", "/ui/devices", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("page with an API key: %s, want a redirect to login", resp.Status)
	}
}

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	inlineStyle  = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:`)
)

// TestSecurityHeadersOnEveryPage: every page carries the strict CSP and the
// other headers, and no page has inline script, style or handlers.
func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	owner := e.login(admin.RoleOwner)
	nobody := e.login(admin.RoleNone)
	cases := []struct {
		a    *agent
		path string
	}{
		{owner, "/ui/devices"}, {owner, "/ui/devices?status=online&q=cam"}, {owner, "/ui/devices/cam-1"},
		{owner, "/ui/users"}, {owner, "/ui/keys"}, {owner, "/ui/policy"}, {owner, "/ui/policy/versions"},
		{owner, "/ui/policy/versions/1"}, {owner, "/ui/audit?action=node."}, {owner, "/ui/nope"},
		{owner, "/ui/devices/ghost"}, {nobody, "/ui/devices"}, {e.anonymous(), "/ui/devices"},
		{e.anonymous(), "/ui/login"}, {e.anonymous(), "/ui/static/style.css"}, {owner, "/ward/v1/admin/nodes"},
	}
	for _, c := range cases {
		resp := c.a.do("GET", c.path, "", nil)
		h := resp.Header
		if h.Get("Content-Security-Policy") != web.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s (%s): security headers missing: %v", c.path, resp.Status, h)
		}
		body := readBody(t, resp)
		if strings.Contains(h.Get("Content-Type"), "text/html") && (inlineScript.MatchString(body) || inlineStyle.MatchString(body)) {
			t.Errorf("GET %s: inline script or style in the page", c.path)
		}
	}
	if !strings.Contains(web.ContentSecurityPolicy, "default-src 'self'") || strings.Contains(web.ContentSecurityPolicy, "unsafe") ||
		!strings.Contains(web.ContentSecurityPolicy, "frame-ancestors 'none'") {
		t.Errorf("CSP is not strict: %s", web.ContentSecurityPolicy)
	}
}

// TestPageActions: forms change the backend and say so.
func TestPageActions(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleITAdmin)
	resp := a.form("/ui/keys", map[string][]string{"tags": {"tag:camera, tag:sensor"}, "expiry": {"168h"}, "ephemeral": {"on"}}, true)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusCreated || !regexp.MustCompile(`value="wpk_[0-9a-f]{32}"`).MatchString(body) {
		t.Fatalf("create key: %s, secret shown: %v", resp.Status, strings.Contains(body, "wpk_"))
	}
	if body := readBody(t, a.do("GET", "/ui/keys", "", nil)); regexp.MustCompile(`wpk_[0-9a-f]{32}`).MatchString(body) {
		t.Error("the key list shows a secret again")
	}
	resp = a.form("/ui/devices/cam-2/tags", map[string][]string{"tags": {"tag:sensor"}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/devices/cam-2?done=tags" {
		t.Fatalf("tag: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if body := readBody(t, a.do("GET", "/ui/devices/cam-2?done=tags", "", nil)); !strings.Contains(body, "Tags saved.") {
		t.Error("no confirmation after tagging")
	}
	if resp := a.form("/ui/devices/cam-2/tags", map[string][]string{"tags": {"tag:nope"}}, true); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(readBody(t, resp), "tagOwners") {
		t.Errorf("bad tag: %s", resp.Status)
	}
	if body := readBody(t, a.do("GET", "/ui/devices/cam-2?done=<script>", "", nil)); strings.Contains(body, "<script>") {
		t.Error("the flash message reflects its parameter")
	}
}

// TestDevicesFilters: the Devices page filters by each field.
func TestDevicesFilters(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAuditor)
	rows := regexp.MustCompile(`<td><a href="/ui/devices/([^"]+)">`)
	for q, want := range map[string]string{
		"":                           "cam-1 cam-2 gw-1 sensor-1 alice-laptop bob-laptop",
		"tag=tag:camera":             "cam-1 cam-2",
		"owner=bob@example.com":      "bob-laptop",
		"status=online":              "cam-1 gw-1 alice-laptop",
		"os=linux&version=1.4.2":     "cam-1 gw-1",
		"expiry=expired":             "sensor-1",
		"expiry=soon&status=offline": "cam-2", // bob-laptop: 9h of its 12h left
		"seen=stale":                 "sensor-1",
		"seen=1h&status=offline":     "bob-laptop",
		"q=ALICE":                    "alice-laptop",
		"q=100.64.0.3":               "gw-1",
	} {
		var got []string
		for _, m := range rows.FindAllStringSubmatch(readBody(t, a.do("GET", "/ui/devices?"+q, "", nil)), -1) {
			got = append(got, m[1])
		}
		if strings.Join(got, " ") != want {
			t.Errorf("devices?%s = %v, want %s", q, got, want)
		}
	}
	if resp := a.do("GET", "/ui/devices?status=sideways", "", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad filter: %s, want 400", resp.Status)
	}
}

// TestWithoutLogin: with no identity provider the UI says so, and API keys
// still work.
func TestWithoutLogin(t *testing.T) {
	b := webtest.NewBackend(nil)
	b.AddAPIKey(ownerKey, admin.RoleOwner)
	h, err := web.New(web.Config{}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{t: t, b: b, srv: srv}
	resp := e.anonymous().do("GET", "/ui/login", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(readBody(t, resp), "API key") {
		t.Errorf("login without SSO: %s", resp.Status)
	}
	if resp := e.anonymous().do("GET", "/ui/", "", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/devices" {
		t.Errorf("GET /ui/: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp := e.bearer(ownerKey, "GET", "/ward/v1/admin/users", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("API key without SSO: %s", resp.Status)
	}
}

// TestRebindFormNeedsEmailAndSubject: the users page's rebind form with a
// missing field is refused with 400 and changes nothing.
func TestRebindFormNeedsEmailAndSubject(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleOwner)
	for _, form := range []url.Values{{"email": []string{"alice@example.com"}}, {"subject": []string{"sub-new"}}} {
		before := e.b.Writes()
		if resp := a.form("/ui/users/rebind", form, true); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("rebind with %v: %s, want 400", form, resp.Status)
		}
		if e.b.Writes() != before {
			t.Errorf("rebind with %v changed the backend", form)
		}
	}
}

// TestDevicePageApprovesAndRejectsRoutes: the device page lists a
// device's subnet routes with an Approve or Reject button, whose forms
// change the approved routes.
func TestDevicePageApprovesAndRejectsRoutes(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleITAdmin)
	resp := a.form("/ui/devices/cam-1/routes", map[string][]string{"route": {"192.168.10.0/24"}, "action": {"approve"}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/devices/cam-1?done=routes" {
		t.Fatalf("approve: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	body := readBody(t, a.do("GET", "/ui/devices/cam-1?done=routes", "", nil))
	if !strings.Contains(body, "Routes saved.") || !strings.Contains(body, `id="reject-192.168.10.0/24"`) {
		t.Fatalf("device page after approval lacks the route's Reject button:\n%s", body)
	}
	a.form("/ui/devices/cam-1/routes", map[string][]string{"route": {"192.168.10.0/24"}, "action": {"reject"}}, true)
	if body := readBody(t, a.do("GET", "/ui/devices/cam-1", "", nil)); strings.Contains(body, "192.168.10.0/24") {
		t.Error("a rejected route that is not advertised is still listed")
	}
	if resp := a.form("/ui/devices/cam-1/routes", map[string][]string{"route": {"nonsense"}}, true); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed route: %s, want 400", resp.Status)
	}
}
