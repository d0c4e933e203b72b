package web_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/browsertest"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// ssoLogin adapts the coordinator's OIDC relying party to web.Login, as the
// coordinator does.
type ssoLogin struct{ rp *sso.RP }

func (l ssoLogin) AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error) {
	lg, err := l.rp.Begin(r.Context(), payload)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, lg.Cookie)
	return lg.URL, nil
}

func (l ssoLogin) Complete(w http.ResponseWriter, r *http.Request) (admin.Identity, string, error) {
	res, err := l.rp.FinishRequest(w, r)
	if err != nil {
		return admin.Identity{}, res.Payload, err
	}
	id := res.Identity
	return admin.Identity{Email: id.Email, Groups: id.Groups, Until: id.Expiry}, res.Payload, nil
}

// browserEnv is the admin handler on the fake backend, logging people in
// through the real development OIDC provider (devidp) and relying party
// (sso), served on loopback for a real browser.
type browserEnv struct {
	base  string
	b     *webtest.Backend
	shots string
}

// devUsers are the IdP's accounts; the password is the username.
var devUsers = []devidp.User{
	{Username: "admin", Password: "admin", Email: "admin@example.com", Groups: []string{"ward-admins"}},
	{Username: "auditor", Password: "auditor", Email: "auditor@example.com", Groups: []string{"ward-audit"}},
	{Username: "member", Password: "member", Email: "member@example.com", Groups: []string{"ops"}},
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	browsertest.NeedChromium(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	secret := rand.Text()
	idp, err := devidp.New(devidp.Config{Issuer: base + devidp.DefaultPrefix, ListenAddr: ln.Addr().String(), Users: devUsers,
		Clients: []devidp.Client{{ID: "ward-admin", Secret: secret, RedirectURIs: []string{base + "/ui/callback"}}}})
	if err != nil {
		t.Fatalf("devidp: %v", err)
	}
	rp, err := sso.New(sso.Config{Issuer: base + devidp.DefaultPrefix, ClientID: "ward-admin", ClientSecret: sso.Secret(secret),
		RedirectURL: base + "/ui/callback"})
	if err != nil {
		t.Fatalf("sso: %v", err)
	}
	b := webtest.NewBackend(nil)
	h, err := web.New(web.Config{Roles: testRoles}, b, ssoLogin{rp})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(idp.Prefix()+"/", idp)
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return &browserEnv{base: base, b: b, shots: browsertest.ShotDir(t)}
}

// browser starts a fresh headless Chromium (own user-data-dir, so no
// cookies) writing screenshots to the env's directory.
func (e *browserEnv) browser(t *testing.T) *browsertest.Tab {
	t.Helper()
	return browsertest.Start(t, e.shots)
}

// login signs a devidp user in (the password is the username), starting
// from path.
func (e *browserEnv) login(tab *browsertest.Tab, user, path string) {
	tab.Login(e.base+path, devidptest.Credentials{Username: user, Password: user})
}

func (e *browserEnv) policyVersion(t *testing.T) wire.PolicyVersion {
	t.Helper()
	v, err := e.b.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func itoa(n int) string { return strconv.Itoa(n) }
