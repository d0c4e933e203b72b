package sso

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

const (
	testClient = "ward"
	testSecret = "ward-secret"
)

// clock is a settable time source: now plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// outcome is what the coordinator's callback saw.
type outcome struct {
	query url.Values
	// sealed is the login cookie the browser sent; empty if none.
	sealed string
	res    Result
	err    error
}

// harness is a devidp, an RP for it, and a callback server that finishes
// logins through FinishRequest, as the coordinator does.
type harness struct {
	idp      *devidptest.Server
	rp       *RP
	clock    *clock
	redirect string
	outcomes chan outcome
}

// newHarness starts devidp with idpCfg plus the "ward" client (extra
// clients without redirect URIs get the harness's callback), and an RP with
// the config mod makes.
func newHarness(t *testing.T, idpCfg devidp.Config, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessOn(t, devidptest.Start, idpCfg, mod)
}

// newHarnessOn is newHarness with the devidp started by start.
func newHarnessOn(t *testing.T, start func(testing.TB, devidp.Config) *devidptest.Server, idpCfg devidp.Config, mod func(*Config)) *harness {
	t.Helper()
	cb := httptest.NewUnstartedServer(nil)
	h := &harness{clock: &clock{}, redirect: "http://" + cb.Listener.Addr().String() + "/callback", outcomes: make(chan outcome, 16)}
	clients := []devidp.Client{{ID: testClient, Secret: testSecret, RedirectURIs: []string{h.redirect}}}
	for _, c := range idpCfg.Clients {
		if len(c.RedirectURIs) == 0 {
			c.RedirectURIs = []string{h.redirect}
		}
		clients = append(clients, c)
	}
	idpCfg.Clients = clients
	h.idp = start(t, idpCfg)
	cfg := Config{
		Issuer: h.idp.Issuer(), ClientID: testClient, ClientSecretFile: secretFile(t, testSecret),
		RedirectURL: h.redirect, Scopes: []string{"openid", "email", "profile", "groups"},
	}
	if mod != nil {
		mod(&cfg)
	}
	rp, err := New(cfg)
	if err != nil {
		cb.Listener.Close()
		t.Fatalf("New: %v", err)
	}
	rp.now = h.clock.now
	h.rp = rp
	cb.Config.Handler = http.HandlerFunc(h.callback)
	cb.Start()
	t.Cleanup(cb.Close)
	return h
}

func (h *harness) callback(w http.ResponseWriter, r *http.Request) {
	var sealed string
	if c, err := r.Cookie(h.rp.cookieName(r.URL.Query().Get("state"))); err == nil {
		sealed = c.Value
	}
	res, err := h.rp.FinishRequest(w, r)
	h.outcomes <- outcome{query: r.URL.Query(), sealed: sealed, res: res, err: err}
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	w.Write([]byte("logged in"))
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// login runs a login with payload through the browser and returns what the
// callback saw.
func (h *harness) login(t *testing.T, payload string, c devidptest.Credentials) outcome {
	t.Helper()
	lg, err := h.rp.Begin(t.Context(), payload)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return h.browseLogin(t, h.browserWith(t, lg), lg.URL, c)
}

// browserWith is a browser holding lg's cookie, as if the coordinator's
// page that called Begin had set it.
func (h *harness) browserWith(t *testing.T, lg Login) *devidptest.Browser {
	t.Helper()
	b := h.idp.NewBrowser()
	u, err := url.Parse(h.redirect)
	if err != nil {
		t.Fatal(err)
	}
	b.Client.Jar.SetCookies(u, []*http.Cookie{lg.Cookie})
	return b
}

// browse signs in at authURL in a browser without a login cookie (the
// callback refuses the state, leaving the code unredeemed) and returns what
// the callback saw.
func (h *harness) browse(t *testing.T, authURL string, c devidptest.Credentials) outcome {
	t.Helper()
	return h.browseLogin(t, h.idp.NewBrowser(), authURL, c)
}

// browseLogin signs in at authURL with browser b and returns what the
// callback saw.
func (h *harness) browseLogin(t *testing.T, b *devidptest.Browser, authURL string, c devidptest.Credentials) outcome {
	t.Helper()
	if _, err := b.Login(t.Context(), authURL, c); err != nil {
		t.Fatalf("browser login: %v", err)
	}
	select {
	case o := <-h.outcomes:
		return o
	default:
		t.Fatal("the browser never reached the callback")
		return outcome{}
	}
}

// rawIDToken runs a login on rp (whose callback is not this harness's RP)
// and redeems the code itself, returning the ID token and the nonce it was
// issued for: a real token from a real login, to feed to another RP.
func rawIDToken(t *testing.T, h *harness, rp *RP, c devidptest.Credentials) (raw, nonce string) {
	t.Helper()
	lg, err := rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	o := h.browse(t, lg.URL, c)
	p, err := rp.sealer.open(lg.Cookie.Value)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rp.discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.oauth.Exchange(t.Context(), o.query.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.Extra("id_token").(string), p.Nonce
}

var (
	alice = devidptest.Credentials{Username: "alice", Password: "alice", OTP: devidp.DefaultOTP}
	bob   = devidptest.Credentials{Username: "bob", Password: "bob"}
	carol = devidptest.Credentials{Username: "carol", Password: "carol"}
)
