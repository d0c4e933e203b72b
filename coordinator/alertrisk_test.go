package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

// alertRiskPolicy is jitTestPolicy with a critical class whose alerts
// are critical; standard devices set no alert severity.
const alertRiskPolicy = `{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["carol@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [{"name": "critical", "alertSeverity": "critical"}, "standard"],
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22"], "approval": "group:oncall", "maxDuration": "1h"},
  ],
}`

// TestAlertSeverityFollowsRiskClass pins issue 17's alertSeverity on risk
// classes, through the real alert pipeline to a Slack-compatible hook on
// loopback: rules of severity info about a critical camera (its join, its
// going offline) alert as critical, about a standard one as info; an
// access request for the critical camera, made through the node API and
// approved through the admin API, alerts at each step as critical, and
// one for the standard camera not at all.
func TestAlertSeverityFollowsRiskClass(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [
    {"name": "joined", "kind": "device_joined", "severity": "info", "to": ["chat"]},
    {"name": "down", "kind": "device_offline", "for": "100ms", "severity": "info", "to": ["chat"]},
    {"name": "jit", "kind": "access_request", "severity": "info", "to": ["chat"]},
  ],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(alertRiskPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile, cfg.AlertRules, cfg.AlertEvery = pf, rules, 50*time.Millisecond
	})
	var k wire.AuthKey
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, RiskClass: "critical"}, &k); code != 201 {
		t.Fatalf("critical key: %d", code)
	}
	if code, _ := c.register(newMachine(t), k.Key, "plc1"); code != 200 {
		t.Fatalf("register plc1: %d", code)
	}
	c.mustRegister([]string{"tag:camera"}, "cam2")
	sink.waitText(t, "[FIRING] [critical] joined: plc1 joined")
	sink.waitText(t, "[FIRING] [info] joined: cam2 joined")
	sink.waitText(t, "[FIRING] [critical] down: plc1 offline")
	sink.waitText(t, "[FIRING] [info] down: cam2 offline")

	laptop, _ := c.personMachine(alice, "alice-laptop")
	ask := func(dev string) wire.AccessRequest {
		t.Helper()
		code, b := c.call("POST", wire.PathRequests, laptop.token, wire.AccessRequestCreate{Device: dev, Port: 22, Duration: "30m", Reason: "INC-5"})
		if code != http.StatusCreated {
			t.Fatalf("request %s: %d %s", dev, code, b)
		}
		var r wire.AccessRequest
		jsonUnmarshal(t, b, &r)
		return r
	}
	std := ask("cam2")
	crit := ask("plc1")
	sink.waitText(t, fmt.Sprintf(`[FIRING] [critical] jit: access request %d (alice@example.com to plc1:22/tcp for 30m0s, "INC-5") requested by user:alice@example.com`, crit.ID))
	b, page := c.uiLogin(carol)
	for _, id := range []int64{std.ID, crit.ID} {
		if code := c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, id), nil, nil); code != http.StatusOK {
			t.Fatalf("carol approves %d: %d", id, code)
		}
	}
	sink.waitText(t, fmt.Sprintf("[FIRING] [critical] jit: access request %d (alice@example.com to plc1:22/tcp", crit.ID))
	sink.waitText(t, fmt.Sprintf(`"INC-5") approved by user:carol@example.com (node:plc1)`))
	if n := sink.count("cam2:22"); n != 0 {
		t.Errorf("requests for the standard camera alerted %d times; its class sets no alert severity", n)
	}
}
