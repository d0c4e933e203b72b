package sso

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/devidp"
)

func validConfig(t *testing.T) Config {
	return Config{
		Issuer: "https://idp.example.com", ClientID: "ward", ClientSecretFile: secretFile(t, "s3cret"),
		RedirectURL: "https://ward.example.com/oidc/callback",
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"relative issuer", func(c *Config) { c.Issuer = "/idp" }},
		{"http issuer off loopback", func(c *Config) { c.Issuer = "http://idp.example.com" }},
		{"no client id", func(c *Config) { c.ClientID = "" }},
		{"no redirect", func(c *Config) { c.RedirectURL = "" }},
		{"http redirect off loopback", func(c *Config) { c.RedirectURL = "http://ward.example.com/cb" }},
		{"no secret", func(c *Config) { c.ClientSecretFile = "" }},
		{"two secret sources", func(c *Config) { c.ClientSecretEnv = "WARD_TEST_SECRET" }},
		{"missing secret file", func(c *Config) { c.ClientSecretFile = filepath.Join(t.TempDir(), "none") }},
		{"empty secret file", func(c *Config) { c.ClientSecretFile = secretFile(t, "  ") }},
		{"unset secret env", func(c *Config) { c.ClientSecretFile, c.ClientSecretEnv = "", "WARD_TEST_SECRET_UNSET" }},
		{"bad domain", func(c *Config) { c.AllowedDomains = []string{"a@example.com"} }},
		{"empty mfa group", func(c *Config) { c.MFAGroups = []string{""} }},
		{"negative ttl", func(c *Config) { c.PendingTTL = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mod(&c)
			if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigSecretSources(t *testing.T) {
	t.Setenv("WARD_TEST_SECRET", "from-env\n")
	tests := []struct {
		name string
		mod  func(*Config)
		want Secret
	}{
		{"file", func(c *Config) {}, "s3cret"},
		{"env", func(c *Config) { c.ClientSecretFile, c.ClientSecretEnv = "", "WARD_TEST_SECRET" }, "from-env"},
		{"value", func(c *Config) { c.ClientSecretFile, c.ClientSecret = "", "in-process" }, "in-process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mod(&c)
			rp, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			if *rp.cfg.secret != tt.want {
				t.Errorf("secret = %q, want %q", string(*rp.cfg.secret), string(tt.want))
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig(t)
	c.Scopes = []string{"email"}
	rp, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(rp.cfg.Scopes, []string{"openid", "email"}) || rp.cfg.GroupsClaim != "groups" || rp.cfg.PendingTTL != DefaultPendingTTL {
		t.Errorf("defaults: scopes %v, groups claim %q, ttl %v", rp.cfg.Scopes, rp.cfg.GroupsClaim, rp.cfg.PendingTTL)
	}
	for _, iss := range []string{"http://127.0.0.1:8080/dev-idp", "http://localhost/x", "http://[::1]:1"} {
		c := validConfig(t)
		c.Issuer, c.RedirectURL = iss, iss+"/cb"
		if _, err := New(c); err != nil {
			t.Errorf("loopback http %s refused: %v", iss, err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := validConfig(t)
	c.ClientSecretFile, c.ClientSecret = "", "hunter2"
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "cfg", c, "secret", c.ClientSecret)
	js, _ := json.Marshal(c)
	rp, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.ClientSecret), buf.String(), string(js), fmt.Sprintf("%+v %#v", rp, *rp.cfg)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

// TestDiscoveryIsLazyAndRetried: New does not contact the IdP, a failed
// discovery is reported as ErrProvider, and a later Begin tries again, as
// when the coordinator serves devidp itself and starts after New.
func TestDiscoveryIsLazyAndRetried(t *testing.T) {
	var up atomic.Bool
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	idp, err := devidp.New(devidp.Config{Issuer: base + devidp.DefaultPrefix, Clients: []devidp.Client{{ID: testClient, Secret: testSecret, RedirectURIs: []string{base + "/cb"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		idp.ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(srv.Close)

	rp, err := New(Config{Issuer: idp.Issuer(), ClientID: testClient, ClientSecret: testSecret, RedirectURL: base + "/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Begin(t.Context(), ""); !errors.Is(err, ErrProvider) {
		t.Fatalf("Begin while the IdP is down: %v, want ErrProvider", err)
	}
	up.Store(true)
	if _, err := rp.Begin(t.Context(), ""); err != nil {
		t.Fatalf("Begin once the IdP is up: %v", err)
	}
}

func TestUnreachableIdP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rp, err := New(Config{Issuer: "http://" + addr, ClientID: "c", ClientSecret: "s", RedirectURL: "http://" + addr + "/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Begin(t.Context(), ""); !errors.Is(err, ErrProvider) {
		t.Fatalf("Begin: %v, want ErrProvider", err)
	}
}

// TestDefaultsAreFreshCopies: the defaults are functions returning a new
// slice each time, so a caller that edits what it got (appends a scope,
// sorts in place) cannot change another RP's defaults.
func TestDefaultsAreFreshCopies(t *testing.T) {
	for name, get := range map[string]func() []string{"DefaultScopes": DefaultScopes, "DefaultMFAMethods": DefaultMFAMethods} {
		want := get()
		got := get()
		got[0] = "changed"
		_ = append(got[:1], "appended")
		if again := get(); !cmp.Equal(again, want) {
			t.Errorf("%s after a caller edited its copy: %v, want %v", name, again, want)
		}
	}
	c := validConfig(t)
	rp, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	rp.cfg.Scopes[0] = "changed"
	rp2, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(rp2.cfg.Scopes, DefaultScopes()) {
		t.Errorf("a second RP's scopes: %v, want %v", rp2.cfg.Scopes, DefaultScopes())
	}
}
