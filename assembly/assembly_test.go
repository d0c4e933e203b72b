package assembly_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/wire"
)

// serve runs the coordinator of cfg, assembled, on a loopback port chosen
// first (the development provider's issuer names it), and returns its URL,
// its bootstrap API key and what New returned.
func serve(t *testing.T, tweak func(*assembly.Config)) (string, string, *assembly.Coordinator) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	cfg := assembly.Config{Config: coordinator.Config{DataDir: data, Listen: ln.Addr().String(), Dev: true}}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := assembly.New(context.Background(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(c.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		c.Close()
	})
	key, err := os.ReadFile(filepath.Join(data, coordinator.BootstrapKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return hs.URL, strings.TrimSpace(string(key)), c
}

// get answers GET path without following redirects.
func get(t *testing.T, url, path, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestDevModeMountsUIAndIdP: `ward coordinator --dev` serves the control
// API, the admin UI and API, and the development provider on one port,
// and an admin's login goes to that provider.
func TestDevModeMountsUIAndIdP(t *testing.T) {
	url, key, c := serve(t, nil)
	if c.DevIdP == nil || c.UI == nil {
		t.Fatalf("dev mode assembled without an IdP (%v) or a UI (%v)", c.DevIdP, c.UI)
	}
	tests := []struct {
		path, token string
		code        int
		location    string
	}{
		{"/", "", http.StatusFound, "/ui/"},
		{"/healthz", "", http.StatusOK, ""},
		{wire.PathAdminNodes, key, http.StatusOK, ""},
		{wire.PathAdminNodes, "", http.StatusUnauthorized, ""},
		{"/ui/login", "", http.StatusSeeOther, c.DevIdP.Issuer() + "/authorize?"},
		{c.DevIdP.Prefix() + "/.well-known/openid-configuration", "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		resp := get(t, url, tt.path, tt.token)
		if resp.StatusCode != tt.code || !strings.HasPrefix(resp.Header.Get("Location"), tt.location) {
			t.Errorf("GET %s: %d to %q, want %d to %q…", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.code, tt.location)
		}
	}
}

// TestNoDevIdPLeavesAPIKeysOnly: without an identity provider the UI
// mounts all the same and says that only API keys work.
func TestNoDevIdPLeavesAPIKeysOnly(t *testing.T) {
	url, key, c := serve(t, func(cfg *assembly.Config) { cfg.NoDevIdP = true })
	if c.DevIdP != nil {
		t.Fatal("NoDevIdP started a development provider")
	}
	if resp := get(t, url, "/ui/login", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /ui/login without an IdP: %d, want 503", resp.StatusCode)
	}
	if resp := get(t, url, "/dev-idp/.well-known/openid-configuration", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("development provider served with NoDevIdP: %d", resp.StatusCode)
	}
	if resp := get(t, url, wire.PathAdminNodes, key); resp.StatusCode != http.StatusOK {
		t.Errorf("admin API with the bootstrap key: %d", resp.StatusCode)
	}
}

// TestDevModeAdminListener: with --admin-listen the admin UI and API are
// served there (and not on the fleet's port, which keeps the control API
// and the development provider), and an admin's login goes to the
// provider with the admin listener's callback, which it accepts.
func TestDevModeAdminListener(t *testing.T) {
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url, key, c := serve(t, func(cfg *assembly.Config) { cfg.AdminListen = aln.Addr().String() })
	adm := httptest.NewUnstartedServer(c.AdminHandler())
	adm.Listener.Close()
	adm.Listener = aln
	adm.Start()
	t.Cleanup(adm.Close)
	tests := []struct {
		url, path, token string
		code             int
	}{
		{adm.URL, wire.PathAdminNodes, key, http.StatusOK},
		{adm.URL, "/", "", http.StatusFound},
		{adm.URL, "/healthz", "", http.StatusOK},
		{adm.URL, c.DevIdP.Prefix() + "/.well-known/openid-configuration", "", http.StatusNotFound},
		{url, wire.PathAdminNodes, key, http.StatusNotFound},
		{url, "/ui/login", "", http.StatusNotFound},
		{url, "/healthz", "", http.StatusOK},
		{url, c.DevIdP.Prefix() + "/.well-known/openid-configuration", "", http.StatusOK},
	}
	for _, tt := range tests {
		if resp := get(t, tt.url, tt.path, tt.token); resp.StatusCode != tt.code {
			t.Errorf("GET %s%s: %d, want %d", tt.url, tt.path, resp.StatusCode, tt.code)
		}
	}
	resp := get(t, adm.URL, "/ui/login", "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, c.DevIdP.Issuer()+"/authorize?") ||
		!strings.Contains(loc, "redirect_uri="+strings.ReplaceAll(strings.ReplaceAll(adm.URL+coordinator.PathUICallback, ":", "%3A"), "/", "%2F")) {
		t.Fatalf("GET /ui/login on the admin listener: %d to %q, want the provider with the admin listener's callback", resp.StatusCode, loc)
	}
	if resp := get(t, loc, "", ""); resp.StatusCode >= 400 {
		t.Errorf("the provider refused the admin listener's callback: %d", resp.StatusCode)
	}
}
