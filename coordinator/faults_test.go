package coordinator

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestMetricsNotOnPublicListener: /metrics needs no authentication, so the
// public handler does not serve it; its own (loopback) listener does.
func TestMetricsNotOnPublicListener(t *testing.T) {
	c := startCoord(t, testPolicy)
	if code, body := c.call("GET", "/metrics", "", nil); code != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public listener: %d %.200s, want 404", code, body)
	}
	if code, body := scrapeMetrics(t, c); code != http.StatusOK || !strings.Contains(body, "ward_nodes_online") {
		t.Fatalf("metrics listener: %d %.200s", code, body)
	}
}

// TestRotateToAnotherNodesKeyConflicts: a node that asks, through the
// control API, for the WireGuard key another node holds gets 409, not 500.
func TestRotateToAnotherNodesKeyConflicts(t *testing.T) {
	c := startCoord(t, testPolicy)
	a := c.mustRegister([]string{"tag:camera"}, "cam-a")
	b := c.mustRegister([]string{"tag:camera"}, "cam-b")
	code, body := c.call("POST", wire.PathRotate, a.token, wire.RotateRequest{WGKey: b.wg.Public()})
	if code != http.StatusConflict {
		t.Fatalf("rotate to another node's key: %d %s, want 409", code, body)
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex // mu guards b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStorageFailureIsUnavailable: with the database gone (closed under
// the running coordinator), a registration gets 503 "storage unavailable",
// and it is neither counted nor audited as a denied registration.
func TestStorageFailureIsUnavailable(t *testing.T) {
	var logs logBuffer
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	key := c.authKey([]string{"tag:camera"}, false, "")
	m := newMachine(t)
	c.session(m)
	c.srv.st.Close()

	code, body := c.call("POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: key, WGKey: m.wg.Public(), Hostname: "cam", OS: "linux"})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "storage unavailable") {
		t.Fatalf("register with the store down: %d %s, want 503 storage unavailable", code, body)
	}
	if strings.Contains(string(body), "sql") {
		t.Errorf("the answer leaks the driver's error: %s", body)
	}
	rec := httptest.NewRecorder()
	c.srv.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `ward_registrations_total{result="denied"}`) {
		t.Errorf("a storage fault was counted as a denied registration:\n%s", rec.Body.String())
	}
	// The audit, had there been one, was tried before the answer.
	if strings.Contains(logs.String(), "node.register_denied") {
		t.Errorf("a storage fault was audited as a denied registration:\n%s", logs.String())
	}
}

// TestAdminAPIStorageFaultIsUnavailable: the admin API answers a storage
// fault with 503 "storage unavailable", without the driver's text.
func TestAdminAPIStorageFaultIsUnavailable(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:camera"}, "cam1")
	c.srv.st.Close()
	for _, path := range []string{wire.PathAdminNodes, wire.PathAdminNodes + "/cam1"} {
		code, body := c.call("GET", path, c.apiKey, nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "storage unavailable") || strings.Contains(string(body), "sql") {
			t.Errorf("GET %s with the store down: %d %s, want 503 storage unavailable", path, code, body)
		}
	}
}
