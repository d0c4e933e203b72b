package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestAdminListener: with an admin listener, the admin API and UI answer
// there and the nodes' routes do not (a node, or anyone posing as one,
// reaches the control API only on the fleet's address); the fleet's
// listener refuses the admin API unless AdminOnListen keeps it there too.
func TestAdminListener(t *testing.T) {
	for _, onListen := range []bool{false, true} {
		name := "admin only there"
		if onListen {
			name = "admin on both"
		}
		t.Run(name, func(t *testing.T) {
			adm := httptest.NewUnstartedServer(nil)
			c := startCoordWith(t, testPolicy, func(cfg *Config) {
				cfg.AdminListen, cfg.AdminOnListen = adm.Listener.Addr().String(), onListen
			})
			adm.Config.Handler = c.srv.AdminHandler()
			adm.Start()
			t.Cleanup(adm.Close)
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(base, path, token string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			post := func(base, path, token, body string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}

			// The admin listener answers admin calls, and its UI.
			if code := get(adm.URL, wire.PathAdminPolicy, c.apiKey); code != http.StatusOK {
				t.Errorf("admin listener: GET policy = %d, want 200", code)
			}
			if code := get(adm.URL, wire.PathAdminPolicy, ""); code != http.StatusUnauthorized {
				t.Errorf("admin listener: GET policy without a key = %d, want 401", code)
			}
			if code := get(adm.URL, "/ui/login", ""); code >= 400 {
				t.Errorf("admin listener: GET /ui/login = %d", code)
			}
			if code := get(adm.URL, "/healthz", ""); code != http.StatusOK {
				t.Errorf("admin listener: GET /healthz = %d, want 200", code)
			}

			// A node registered on the fleet's address, then calling the
			// admin listener as it would the control API.
			var key wire.AuthKey
			if code, b := callJSON(t, adm.URL, "POST", wire.PathAdminAuthKeys, c.apiKey, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}, &key); code != http.StatusCreated {
				t.Fatalf("admin listener: POST authkeys = %d %s", code, b)
			}
			m := newMachine(t)
			if code, _ := c.register(m, key.Key, "cam1"); code != http.StatusOK {
				t.Fatalf("register on the fleet's listener: %d", code)
			}
			for _, tc := range []struct{ method, path, body string }{
				{"POST", wire.PathChallenge, `{"machine_key":"` + m.priv.Public().String() + `"}`},
				{"POST", wire.PathSession, `{}`},
				{"POST", wire.PathRegister, `{}`},
				{"GET", wire.PathMap, ""},
				{"POST", wire.PathReport, `{}`},
				{"POST", wire.PathLogin, `{}`},
				{"POST", wire.PathRelayToken, `{}`},
				{"GET", wire.PathRelay, ""},
			} {
				var code int
				if tc.method == "GET" {
					code = get(adm.URL, tc.path, m.token)
				} else {
					code = post(adm.URL, tc.path, m.token, tc.body)
				}
				if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
					t.Errorf("admin listener: %s %s = %d, want 404 (no node route there)", tc.method, tc.path, code)
				}
			}
			// The fleet's listener still serves the node.
			if code := get(c.http.URL, wire.PathMap+"?since=0", m.token); code == http.StatusNotFound {
				t.Errorf("fleet listener: GET map = 404")
			}

			// The fleet's listener: the admin API only with AdminOnListen.
			want := http.StatusNotFound
			if onListen {
				want = http.StatusOK
			}
			if code := get(c.http.URL, wire.PathAdminPolicy, c.apiKey); code != want {
				t.Errorf("fleet listener: GET policy = %d, want %d", code, want)
			}
			if code := get(c.http.URL, wire.PathAdminNodes, c.apiKey); code != want {
				t.Errorf("fleet listener: GET nodes = %d, want %d", code, want)
			}
			if code := post(c.http.URL, wire.PathAdminAuthKeys, c.apiKey, `{"tags":["tag:camera"]}`); onListen != (code == http.StatusCreated) {
				t.Errorf("fleet listener: POST authkeys = %d (admin on both: %v)", code, onListen)
			}
			if code := get(c.http.URL, "/ui/login", ""); !onListen && code != http.StatusNotFound {
				t.Errorf("fleet listener: GET /ui/login = %d, want 404", code)
			}
		})
	}
}

// callJSON sends a JSON request to base and decodes a 2xx answer into out.
func callJSON(t *testing.T, base, method, path, token string, in, out any) (int, []byte) {
	t.Helper()
	j, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && out != nil {
		jsonUnmarshal(t, b, out)
	}
	return resp.StatusCode, b
}
