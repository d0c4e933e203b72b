package coordinator

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wardnet/ward/wire"
)

// FuzzControlRequests sends arbitrary bodies to every control route with a
// valid node session: the decoder must answer 2xx or 4xx, never fail or
// panic.
func FuzzControlRequests(f *testing.F) {
	c := startCoordWith(f, testPolicy, unlimited) // every input reaches its decoder
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	h := c.srv.Handler()
	for _, seed := range []string{`{}`, `{"endpoints": ["127.0.0.1:1"]}`, `{"wg_key": "wgkey:00"}`, `[`, `{"denied_flows": [{"src": "1.2.3.4", "count": -1}]}`,
		`{"exposed_ports": [65535, 1]}`, `{"machine_key": "mkey:zz"}`} {
		f.Add(seed, uint8(0))
	}
	paths := []string{wire.PathChallenge, wire.PathSession, wire.PathRegister, wire.PathRotate, wire.PathReport, wire.PathLogin, wire.PathLogout}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+m.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
	})
}
