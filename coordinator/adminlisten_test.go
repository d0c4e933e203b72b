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
			call := func(method, base, path, token, body string) int {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
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
			for _, tc := range []struct {
				path, token string
				ok          func(int) bool
				want        string
			}{
				{wire.PathAdminPolicy, c.apiKey, is(http.StatusOK), "200"},
				{wire.PathAdminPolicy, "", is(http.StatusUnauthorized), "401 without a key"},
				{"/ui/login", "", func(code int) bool { return code < 400 }, "the UI"},
				{"/healthz", "", is(http.StatusOK), "200"},
			} {
				if code := call("GET", adm.URL, tc.path, tc.token, ""); !tc.ok(code) {
					t.Errorf("admin listener: GET %s = %d, want %s", tc.path, code, tc.want)
				}
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
				if code := call(tc.method, adm.URL, tc.path, m.token, tc.body); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
					t.Errorf("admin listener: %s %s = %d, want 404 (no node route there)", tc.method, tc.path, code)
				}
			}
			// The fleet's listener still serves the node.
			if code := call("GET", c.http.URL, wire.PathMap+"?since=0", m.token, ""); code == http.StatusNotFound {
				t.Errorf("fleet listener: GET map = 404")
			}

			// The fleet's listener: the admin API (and its UI) only with
			// AdminOnListen.
			for _, tc := range []struct{ method, path, token, body string }{
				{"GET", wire.PathAdminPolicy, c.apiKey, ""},
				{"GET", wire.PathAdminNodes, c.apiKey, ""},
				{"POST", wire.PathAdminAuthKeys, c.apiKey, `{"tags":["tag:camera"]}`},
				{"GET", "/ui/login", "", ""},
			} {
				code := call(tc.method, c.http.URL, tc.path, tc.token, tc.body)
				if served := code < 400; served != onListen || !onListen && code != http.StatusNotFound {
					t.Errorf("fleet listener: %s %s = %d, want %s", tc.method, tc.path, code, map[bool]string{false: "404", true: "2xx/3xx (admin on both)"}[onListen])
				}
			}
		})
	}
}

// is reports whether a status is want.
func is(want int) func(int) bool { return func(code int) bool { return code == want } }

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
