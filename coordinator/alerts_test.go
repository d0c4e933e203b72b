package coordinator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// TestAlertDeniedFlowsFromOneIdentity: N denied flows from one identity
// within T fire one alert (not one per batch) to a signed webhook on
// loopback, and a recovery once the window passes below N.
func TestAlertDeniedFlowsFromOneIdentity(t *testing.T) {
	const secret = "coordinator-test-secret"
	var mu sync.Mutex
	var got []alert.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !alert.Valid(secret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var a alert.Alert
		json.Unmarshal(body, &a)
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer hook.Close()
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "soc", "url": %q, "secret": %q}],
  "rules": [{"name": "knocking", "kind": "denied_flows", "count": 5, "within": "2s", "to": ["soc"]}],
}`, hook.URL, secret))
	if err != nil {
		t.Fatal(err)
	}
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.AlertRules, cfg.AlertEvery = rules, 100*time.Millisecond })
	cam := newMachine(t)
	_, camNode := c.register(cam, c.authKey([]string{"tag:camera"}, false, ""), "cam")
	op := newMachine(t)
	_, opNode := c.register(op, c.authKey([]string{"tag:operator"}, false, ""), "op")
	knock := func(n int) {
		now := time.Now().UTC()
		b := wire.FlowBatch{Records: []wire.FlowRecord{{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: filter.ProtoTCP, Port: 23,
			Inbound: true, Denied: true, Start: now, End: now, Count: n}}}
		if code, body := c.call("POST", wire.PathFlows, cam.token, b); code != 204 {
			t.Fatalf("post: %d %s", code, body)
		}
	}
	knock(3)
	knock(3) // 6 within 2s: one alert
	knock(3)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].State != alert.StateFiring || got[1].State != alert.StateResolved ||
		got[0].Subject != "node:op (tag:operator)" {
		t.Fatalf("deliveries: %+v", got)
	}
}
