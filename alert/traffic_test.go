package alert

import (
	"strings"
	"testing"
	"time"
)

// TestAlertRulesTrafficKinds: traffic_anomaly and new_peer_or_port parse
// with their settings (min_history defaulting to 72h), and their
// mistakes are reported at line:col.
func TestAlertRulesTrafficKinds(t *testing.T) {
	rs, err := Parse("a.hujson", []byte(`{
  "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}],
  "rules": [
    {"name": "jump", "kind": "traffic_anomaly", "metric": "bytes", "factor": 5, "floor": 1e6, "min_history": "24h", "to": ["ops"]},
    {"name": "new", "kind": "new_peer_or_port", "tags": ["tag:cam"], "to": ["ops"]},
  ],
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []TrafficRule{{Metric: MetricBytes, Factor: 5, Floor: 1e6, MinHistory: 24 * time.Hour}, {MinHistory: DefaultMinHistory}}
	for i, r := range rs.Rules {
		if r.Traffic != want[i] {
			t.Errorf("rule %s: %+v, want %+v", r.Name, r.Traffic, want[i])
		}
	}
	if !Event(KindNewPeerOrPort) || Event(KindTrafficAnomaly) {
		t.Error("new_peer_or_port is an event without recovery; traffic_anomaly has one")
	}
	problems := []struct{ src, want string }{
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"traffic_anomaly\", \"factor\": 5, \"to\": [\"ops\"]}]}", `a.hujson:2:3: rule "x": traffic_anomaly needs "metric" and "factor"`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"traffic_anomaly\", \"metric\": \"packets\", \"factor\": 5, \"to\": [\"ops\"]}]}", `a.hujson:2:54: metric "packets": one of flows, bytes, peers, ports`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"traffic_anomaly\", \"metric\": \"flows\", \"factor\": 1, \"to\": [\"ops\"]}]}", `a.hujson:2:73: factor must be more than 1`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"traffic_anomaly\", \"metric\": \"flows\", \"factor\": \"5\", \"to\": [\"ops\"]}]}", `a.hujson:2:73: factor must be a number`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"device_offline\", \"for\": \"1m\", \"factor\": 3, \"to\": [\"ops\"]}]}", `a.hujson:2:3: rule "x": metric, factor, floor, min_history are for`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"new_peer_or_port\", \"floor\": 3, \"to\": [\"ops\"]}]}", `a.hujson:2:3: rule "x": new_peer_or_port takes no metric`},
	}
	for _, tc := range problems {
		_, err := Parse("a.hujson", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}
