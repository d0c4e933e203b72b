package devidp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

const (
	clientID     = "ward"
	clientSecret = "ward-secret"
)

// callbackServer is a stand-in relying party: its /cb page echoes the query
// it was sent, so a test reads the code and state off the browser's last
// page.
func callbackServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// env is a provider with one confidential client whose redirect URI is a
// callback server.
type env struct {
	idp      *devidptest.Server
	redirect string
	oauth    oauth2.Config
	provider *oidc.Provider
}

func newEnv(t *testing.T, cfg devidp.Config) *env {
	t.Helper()
	cb := callbackServer(t)
	redirect := cb.URL + "/cb"
	cfg.Clients = append([]devidp.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirect}}}, cfg.Clients...)
	idp := devidptest.Start(t, cfg)
	p, err := oidc.NewProvider(t.Context(), idp.Issuer())
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return &env{
		idp:      idp,
		redirect: redirect,
		provider: p,
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirect,
			Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile", "groups"},
		},
	}
}

// login is one authorization request, from its start to the code.
type login struct {
	state, nonce, verifier string
	authURL                string
}

func (e *env) begin() login {
	l := login{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	l.authURL = e.oauth.AuthCodeURL(l.state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier))
	return l
}

// code runs the browser through the login form and returns the code the
// provider sent to the callback, checking the state came back unchanged.
func (e *env) code(t *testing.T, l login, c devidptest.Credentials) string {
	t.Helper()
	page, err := devidptest.NewBrowser().Login(t.Context(), l.authURL, c)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	q, err := url.ParseQuery(page.Body)
	if err != nil || page.URL.Path != "/cb" {
		t.Fatalf("login ended on %s with %q, want the callback", page.URL, page.Body)
	}
	if q.Get("state") != l.state {
		t.Fatalf("state = %q, want %q", q.Get("state"), l.state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in callback query %q", page.Body)
	}
	return q.Get("code")
}

// exchange redeems code with the login's PKCE verifier.
func (e *env) exchange(ctx context.Context, l login, code string) (*oauth2.Token, error) {
	return e.oauth.Exchange(ctx, code, oauth2.VerifierOption(l.verifier))
}

// idClaims are the ID token claims the tests look at.
type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
	Roles         []string `json:"roles"`
	AMR           []string `json:"amr"`
}

// newMuxServer starts a 127.0.0.1 server whose handler build makes from
// the server's base URL, and returns that URL.
func newMuxServer(t *testing.T, build func(base string) (http.Handler, error)) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	h, err := build(base)
	if err != nil {
		srv.Listener.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}
