package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// testRoles maps the test IdP's groups to roles.
var testRoles = map[string]admin.Role{
	"idp:ward-owners": admin.RoleOwner, "idp:ward-admins": admin.RoleAdmin, "idp:ward-network": admin.RoleNetworkAdmin,
	"idp:ward-it": admin.RoleITAdmin, "idp:ward-audit": admin.RoleAuditor,
}

// people of the test IdP, one per role; nobody has no admin role.
var people = map[admin.Role]webtest.Person{
	admin.RoleOwner:        {Email: "owner@example.com", Password: "pw-owner", Groups: []string{"ward-owners"}, MFA: true},
	admin.RoleAdmin:        {Email: "admin@example.com", Password: "pw-admin", Groups: []string{"eng", "ward-admins"}},
	admin.RoleNetworkAdmin: {Email: "net@example.com", Password: "pw-net", Groups: []string{"ward-network"}},
	admin.RoleITAdmin:      {Email: "it@example.com", Password: "pw-it", Groups: []string{"ward-it"}},
	admin.RoleAuditor:      {Email: "auditor@example.com", Password: "pw-audit", Groups: []string{"ward-audit"}},
	admin.RoleNone:         {Email: "nobody@example.com", Password: "pw-nobody", Groups: []string{"ops"}},
}

// allRoles lists every role, RoleNone included.
var allRoles = []admin.Role{admin.RoleOwner, admin.RoleAdmin, admin.RoleNetworkAdmin, admin.RoleITAdmin, admin.RoleAuditor, admin.RoleNone}

// ownerKey is an API key acting as owner; auditorKey one acting as auditor.
const (
	ownerKey   = "wak_owner_test_secret"
	auditorKey = "wak_auditor_test_secret"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a web handler on a fake backend and a test IdP, served on
// loopback.
type env struct {
	t     *testing.T
	b     *webtest.Backend
	clock *clock
	srv   *httptest.Server
}

func newEnv(t *testing.T, mod ...func(*web.Config)) *env {
	t.Helper()
	ck := &clock{t: time.Now()}
	b := webtest.NewBackend(ck.Now)
	b.AddAPIKey(ownerKey, admin.RoleOwner)
	b.AddAPIKey(auditorKey, admin.RoleAuditor)
	var ps []webtest.Person
	for _, p := range people {
		ps = append(ps, p)
	}
	idp := webtest.NewIdP("/ui/callback", 12*time.Hour, ps...)
	cfg := web.Config{Roles: testRoles, SessionTTL: time.Hour, Now: ck.Now}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := web.New(cfg, b, idp)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(webtest.IdPPath, idp)
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, b: b, clock: ck, srv: srv}
}

// agent is a browser-like client: a cookie jar and the session's CSRF
// token.
type agent struct {
	e    *env
	c    *http.Client
	csrf string
}

// anonymous returns an agent with no session that does not follow
// redirects.
func (e *env) anonymous() *agent {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &agent{e: e, c: c}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// login logs the person of role in through the IdP's form.
func (e *env) login(role admin.Role) *agent {
	e.t.Helper()
	a := e.anonymous()
	resp := a.do("GET", "/ui/login?next=/ui/devices", "", nil)
	loc := resp.Header.Get("Location")
	state, _ := url.Parse(loc)
	p := people[role]
	form := url.Values{"state": {state.Query().Get("state")}, "email": {p.Email}, "password": {p.Password}}
	resp = a.do("POST", webtest.IdPPath, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("idp login: %s", resp.Status)
	}
	resp = a.do("GET", resp.Header.Get("Location"), "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/devices" {
		e.t.Fatalf("callback: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp = a.do("GET", "/ui/devices", "", nil)
	if m := csrfMeta.FindStringSubmatch(readBody(e.t, resp)); m != nil {
		a.csrf = m[1]
	}
	return a
}

// do sends a request and returns the response with its body read into
// memory (see readBody).
func (a *agent) do(method, path, body string, hdr map[string]string) *http.Response {
	a.e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, a.e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// api sends a JSON request with the session cookie and, if withCSRF, the
// CSRF header.
func (a *agent) api(method, path, body string, withCSRF bool) *http.Response {
	h := map[string]string{"Content-Type": "application/json"}
	if withCSRF {
		h["X-CSRF-Token"] = a.csrf
	}
	return a.do(method, path, body, h)
}

// form posts a page form, with the CSRF field if withCSRF.
func (a *agent) form(path string, v url.Values, withCSRF bool) *http.Response {
	v2 := url.Values{}
	for k, vs := range v {
		v2[k] = vs
	}
	if withCSRF {
		v2.Set("csrf_token", a.csrf)
	}
	return a.do("POST", path, v2.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// bearer sends a JSON request with an API key.
func (e *env) bearer(key, method, path, body string) *http.Response {
	return e.anonymous().do(method, path, body, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"})
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return string(b)
}

// policy returns the running policy version of the fake.
func (e *env) policy() wire.PolicyVersion {
	v, err := e.b.Policy(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func mustEscape(s string) string { return url.QueryEscape(s) }
