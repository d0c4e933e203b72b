package devidp_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

func TestLoginFormRefusals(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	tests := []struct {
		name     string
		creds    devidptest.Credentials
		wantStep string
		wantMsg  string
	}{
		{"wrong password", devidptest.Credentials{Username: "bob", Password: "nope"}, "password", "wrong username or password"},
		{"unknown user", devidptest.Credentials{Username: "mallory", Password: "bob"}, "password", "wrong username or password"},
		{"wrong one-time code", devidptest.Credentials{Username: "alice", Password: "alice", OTP: "654321"}, "otp", "wrong one-time code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := devidptest.NewBrowser().Login(t.Context(), e.begin().authURL, tt.creds)
			var fe *devidptest.FormError
			if !errors.As(err, &fe) {
				t.Fatalf("login: err = %v, want a form error", err)
			}
			if page.Step != tt.wantStep || page.Error != tt.wantMsg || page.Status != http.StatusOK {
				t.Errorf("page step %q, error %q, status %d; want %q, %q, 200", page.Step, page.Error, page.Status, tt.wantStep, tt.wantMsg)
			}
			if tt.wantStep == "password" && !strings.Contains(page.Body, `value="`+tt.creds.Username+`"`) {
				t.Errorf("form does not keep the username %q", tt.creds.Username)
			}
		})
	}
}

func TestLoginGivesUpAfterFailures(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	b := devidptest.NewBrowser()
	page, err := b.Open(t.Context(), e.begin().authURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if page, err = b.Submit(t.Context(), page, url.Values{"username": {"bob"}, "password": {"nope"}}); err != nil {
			t.Fatal(err)
		}
	}
	if page.Step != "error" || !strings.Contains(page.Error, "too many failed attempts") {
		t.Fatalf("after 5 failures: step %q, error %q", page.Step, page.Error)
	}
	// Even the right password is refused now: the request is gone.
	page, err = b.Submit(t.Context(), page, url.Values{"username": {"bob"}, "password": {"bob"}})
	if !errors.Is(err, devidptest.ErrNoForm) {
		t.Fatalf("submit on error page: page %+v, err %v", page, err)
	}
}

// TestLoginBoundToBrowser checks that the form only works from the browser
// it was shown to (its cookie), so another site or device cannot post it.
func TestLoginBoundToBrowser(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	page, err := devidptest.NewBrowser().Open(t.Context(), e.begin().authURL)
	if err != nil {
		t.Fatal(err)
	}
	other := devidptest.NewBrowser()
	page, err = other.Submit(t.Context(), page, url.Values{"username": {"bob"}, "password": {"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != http.StatusBadRequest || !strings.Contains(page.Error, "another browser") {
		t.Fatalf("post from another browser: status %d, error %q", page.Status, page.Error)
	}
}

func TestLoginUnknownRequest(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	page, err := devidptest.NewBrowser().Open(t.Context(), e.idp.Issuer()+"/login?id=deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != http.StatusBadRequest || page.Step != "error" || !strings.Contains(page.Error, "expired or is unknown") {
		t.Fatalf("status %d, step %q, error %q", page.Status, page.Step, page.Error)
	}
}

// TestMountOnMux serves the provider on a mux beside other routes, as a
// coordinator does with --dev, and runs a login through it.
func TestMountOnMux(t *testing.T) {
	cb := callbackServer(t)
	srv := newMuxServer(t, func(base string) (http.Handler, error) {
		idp, err := devidp.New(devidp.Config{
			Issuer:     base + devidp.DefaultPrefix,
			ListenAddr: strings.TrimPrefix(base, "http://"),
			Clients:    []devidp.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{cb.URL + "/cb"}}},
		})
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle(idp.Prefix()+"/", idp)
		mux.HandleFunc("/other", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("coordinator")) })
		return mux, nil
	})
	e := &env{redirect: cb.URL + "/cb"}
	e.oauth.ClientID, e.oauth.ClientSecret, e.oauth.RedirectURL = clientID, clientSecret, e.redirect
	e.oauth.Endpoint.AuthURL = srv + devidp.DefaultPrefix + "/authorize"
	e.oauth.Endpoint.TokenURL = srv + devidp.DefaultPrefix + "/oauth/token"
	e.oauth.Scopes = []string{"openid"}
	l := e.begin()
	if _, err := e.exchange(t.Context(), l, e.code(t, l, devidptest.Credentials{Username: "carol", Password: "carol"})); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	page, err := devidptest.NewBrowser().Open(t.Context(), srv+"/other")
	if err != nil || page.Body != "coordinator" {
		t.Fatalf("other route: %v, %q", err, page.Body)
	}
}

func TestServeWithoutPrefix(t *testing.T) {
	idp := devidptest.StartAt(t, "", devidp.Config{Clients: []devidp.Client{{ID: "c", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}}})
	var disc struct {
		Issuer string `json:"issuer"`
	}
	getJSON(t, idp.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != idp.URL {
		t.Errorf("issuer = %q, want %q", disc.Issuer, idp.URL)
	}
}
