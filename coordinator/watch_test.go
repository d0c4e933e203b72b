package coordinator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

// watchCoord starts a coordinator whose rules make cameras watch an auth
// log and /etc/passwd and a firmware directory, sensors another log, and
// send both kinds of alert for cameras to a Slack-compatible sink.
func watchCoord(t *testing.T) (*testCoord, *slackSink) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "watch": [
    {"tags": ["tag:camera"], "logs": [{"path": "/var/log/auth.log", "match": "Failed password"}], "files": ["/etc/passwd", "/opt/fw/"]},
    {"tags": ["tag:camera", "tag:sensor"], "logs": [{"path": "/var/log/auth.log", "match": "Invalid user"}, {"path": "/var/log/sensor.log", "match": "fault"}]},
  ],
  "rules": [
    {"name": "auth", "kind": "log_match", "tags": ["tag:camera"], "severity": "critical", "to": ["chat"]},
    {"name": "integrity", "kind": "file_changed", "to": ["chat"]},
  ],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return startCoordWith(t, testPolicy, func(cfg *Config) { cfg.AlertRules = rules }), sink
}

// TestWatchConfigByTags: a node gets the union of the watch entries of its
// tags, a log's expressions merged; a node of no watched tag gets nothing.
func TestWatchConfigByTags(t *testing.T) {
	c, _ := watchCoord(t)
	cam, op := c.mustRegister([]string{"tag:camera"}, "cam"), c.mustRegister([]string{"tag:operator"}, "op")
	get := func(m *machine) wire.WatchConfig {
		code, b := c.call("GET", wire.PathWatch, m.token, nil)
		var cfg wire.WatchConfig
		if code != 200 || json.Unmarshal(b, &cfg) != nil {
			t.Fatalf("watch config: %d %s", code, b)
		}
		return cfg
	}
	want := wire.WatchConfig{Logs: []wire.WatchLog{{Path: "/var/log/auth.log", Match: []string{"Failed password", "Invalid user"}},
		{Path: "/var/log/sensor.log", Match: []string{"fault"}}}, Files: []string{"/etc/passwd", "/opt/fw"}}
	if diff := cmp.Diff(want, get(cam)); diff != "" {
		t.Errorf("camera's watch config (-want +got):\n%s", diff)
	}
	if got := get(op); len(got.Logs) != 0 || len(got.Files) != 0 {
		t.Errorf("operator's watch config: %+v, want nothing", got)
	}
	if code, _ := c.call("GET", wire.PathWatch, "", nil); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated: %d, want 401", code)
	}
}

// TestWatchEventsRefusePathsNotWatched: a modified node posting events
// about a path it was not told to watch (another tag's log, a file beside
// or below a watched directory, a path climbing out of it), a line over
// the bound, bad hashes or bad JSON is refused whole with 400, and
// nothing of it is audited or alerted.
func TestWatchEventsRefusePathsNotWatched(t *testing.T) {
	c, sink := watchCoord(t)
	cam, sensor := c.mustRegister([]string{"tag:camera"}, "cam"), c.mustRegister([]string{"tag:sensor"}, "sensor")
	now := time.Now().UTC()
	h1, h2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	logEv := func(p, line string) wire.WatchEvent {
		return wire.WatchEvent{Kind: wire.WatchLogMatch, Path: p, Line: line, Time: now}
	}
	fileEv := func(p, change, old, new string) wire.WatchEvent {
		return wire.WatchEvent{Kind: wire.WatchFile, Path: p, Change: change, OldSHA256: old, NewSHA256: new, Time: now}
	}
	refused := []struct {
		name string
		m    *machine
		body any
	}{
		{"another tag's file", sensor, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/etc/passwd", wire.WatchModified, h1, h2)}}},
		{"a log not watched", cam, wire.WatchEvents{Events: []wire.WatchEvent{logEv("/var/log/syslog", "Failed password")}}},
		{"a file beside the watched ones", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/etc/shadow", wire.WatchAdded, "", h1)}}},
		{"a file below a watched directory's files", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/opt/fw/sub/x", wire.WatchAdded, "", h1)}}},
		{"a path climbing out", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/opt/fw/../../etc/shadow", wire.WatchAdded, "", h1)}}},
		{"a log path as a file", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/var/log/auth.log", wire.WatchAdded, "", h1)}}},
		{"a line over 1 KiB", cam, wire.WatchEvents{Events: []wire.WatchEvent{logEv("/var/log/auth.log", strings.Repeat("x", wire.MaxWatchLine+1))}}},
		{"a modification without a new hash", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/etc/passwd", wire.WatchModified, h1, "")}}},
		{"an unknown change", cam, wire.WatchEvents{Events: []wire.WatchEvent{fileEv("/etc/passwd", "renamed", h1, h2)}}},
		{"a good event then a bad one", cam, wire.WatchEvents{Events: []wire.WatchEvent{logEv("/var/log/auth.log", "Failed password"),
			logEv("/etc/passwd", "root:x:0:0")}}},
		{"too many events", cam, wire.WatchEvents{Events: slices.Repeat([]wire.WatchEvent{logEv("/var/log/auth.log", "x")}, wire.MaxWatchEvents+1)}},
		{"bad JSON", cam, []byte(`{"events": [`)},
		{"an unknown field", cam, []byte(`{"events": [], "node": "op"}`)},
	}
	for _, tc := range refused {
		if code, b := c.call("POST", wire.PathWatchEvents, tc.m.token, tc.body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, code, b)
		}
	}
	if code, _ := c.call("POST", wire.PathWatchEvents, "", wire.WatchEvents{}); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated: %d, want 401", code)
	}
	var evs []wire.AuditEvent
	for _, a := range []string{"device.log_match", "device.file_changed"} {
		var got []wire.AuditEvent
		c.admin("GET", wire.PathAdminAudit+"?action="+a, nil, &got)
		evs = append(evs, got...)
	}
	if len(evs) != 0 || sink.count("") != 0 {
		t.Fatalf("refused events audited %+v or alerted %d times", evs, sink.count(""))
	}
}

// TestWatchEventsAuditedAndAlerted: each event a node posts about what it
// watches is audited as the node and fires the rules of its kind whose
// tags the node has: one alert per event, naming the node, the path, the
// line or both hashes.
func TestWatchEventsAuditedAndAlerted(t *testing.T) {
	c, sink := watchCoord(t)
	cam, sensor := c.mustRegister([]string{"tag:camera"}, "cam"), c.mustRegister([]string{"tag:sensor"}, "sensor")
	now := time.Now().UTC()
	h1, h2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	batch := wire.WatchEvents{Events: []wire.WatchEvent{
		{Kind: wire.WatchLogMatch, Path: "/var/log/auth.log", Line: "sshd[9]: Failed password for root", Time: now},
		{Kind: wire.WatchLogMatch, Path: "/var/log/auth.log", Line: "sshd[9]: Failed password for root", Time: now},
		{Kind: wire.WatchFile, Path: "/opt/fw/image.bin", Change: wire.WatchModified, OldSHA256: h1, NewSHA256: h2, Time: now},
		{Kind: wire.WatchFile, Path: "/etc/passwd", Change: wire.WatchUnreadable, OldSHA256: h1, Error: "permission denied", Time: now},
	}}
	if code, b := c.call("POST", wire.PathWatchEvents, cam.token, batch); code != http.StatusNoContent {
		t.Fatalf("camera's events: %d %s", code, b)
	}
	// The sensor's log matches, but the log rule is for cameras only.
	sensorEv := wire.WatchEvents{Events: []wire.WatchEvent{{Kind: wire.WatchLogMatch, Path: "/var/log/sensor.log", Line: "fault 7", Time: now}}}
	if code, b := c.call("POST", wire.PathWatchEvents, sensor.token, sensorEv); code != http.StatusNoContent {
		t.Fatalf("sensor's events: %d %s", code, b)
	}
	sink.waitText(t, fmt.Sprintf("[FIRING] [warning] integrity: cam: /opt/fw/image.bin modified (sha256 %s -> %s) (node:cam)", h1, h2))
	sink.waitText(t, fmt.Sprintf("integrity: cam: /etc/passwd unreadable (sha256 %s -> none): permission denied", h1))
	if n := sink.waitText(t, `[FIRING] [critical] auth: cam: /var/log/auth.log: "sshd[9]: Failed password for root"`); n != 2 {
		t.Errorf("two matching lines gave %d alerts", n)
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=device.log_match", nil, &evs)
	if len(evs) != 3 || evs[0].Actor != "node:sensor" && evs[2].Actor != "node:sensor" {
		t.Errorf("log matches audited: %+v", evs)
	}
	if n := sink.count("fault 7"); n != 0 {
		t.Errorf("the sensor's line alerted %d times; the rule is for cameras", n)
	}
}

// TestWatchEventsRateLimitedPerNode: a node posting batches faster than
// the limit gets 429 with Retry-After; another node is not held back.
func TestWatchEventsRateLimitedPerNode(t *testing.T) {
	c, _ := watchCoord(t)
	cam, sensor := c.mustRegister([]string{"tag:camera"}, "cam"), c.mustRegister([]string{"tag:sensor"}, "sensor")
	codes := map[int]int{}
	for range watchBurst + 5 {
		code, _ := c.call("POST", wire.PathWatchEvents, cam.token, wire.WatchEvents{})
		codes[code]++
	}
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusNoContent] < watchBurst-1 {
		t.Errorf("%d batches at once: %v; want the burst taken, then 429", watchBurst+5, codes)
	}
	if code, b := c.call("POST", wire.PathWatchEvents, sensor.token, wire.WatchEvents{}); code != http.StatusNoContent {
		t.Errorf("another node: %d %s", code, b)
	}
}
