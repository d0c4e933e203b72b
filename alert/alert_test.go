package alert

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const goodRules = `{
  // where alerts go
  "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}],
  "rules": [
    {"name": "camera offline", "kind": "device_offline", "for": "5m", "tags": ["tag:camera"], "severity": "critical", "to": ["ops"]},
    {"name": "knocking", "kind": "denied_flows", "count": 10, "within": "10m", "to": ["ops"]},
  ],
}`

func TestAlertRulesParse(t *testing.T) {
	rs, err := Parse("alerts.hujson", []byte(goodRules))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 2 || rs.Rules[0].For != 5*time.Minute || rs.Rules[1].Count != 10 || rs.Rules[1].Severity != "warning" ||
		rs.Destinations["ops"].Secret != "0123456789abcdef" {
		t.Fatalf("parsed %+v", rs)
	}
}

// TestAlertRulesProblemsAtLineCol: each mistake is reported at its line
// and column, all of them at once.
func TestAlertRulesProblemsAtLineCol(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{"rules": [}`, "a.hujson:1:12: syntax error"},
		{"{\n  \"rulez\": []}", `a.hujson:2:3: unknown key "rulez"`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"offline\", \"for\": \"5m\", \"to\": []}]}", `a.hujson:2:25: kind "offline"`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"device_offline\", \"for\": \"soon\", \"to\": [\"ops\"]}]}", `a.hujson:2:50: for: "soon" is not a positive duration`},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"device_offline\", \"for\": \"1m\", \"to\": [\"ops\"]}]}", `a.hujson:2:62: rule "x": no destination named "ops"`},
		{"{\"webhooks\": [\n {\"name\": \"ops\", \"url\": \"ftp://x\", \"secret\": \"short\"}]}", "a.hujson:2:2: webhook \"ops\" needs a secret of at least 16 characters (it signs the body)\na.hujson:2:25: url \"ftp://x\""},
		{"{\"rules\": [\n  {\"name\": \"x\", \"kind\": \"denied_flows\", \"count\": 0, \"within\": \"1m\", \"to\": []}]}", "a.hujson:2:3: rule \"x\": denied_flows needs"},
	}
	for _, tc := range tests {
		_, err := Parse("a.hujson", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestWebhookSignedAndRetried: the receiver fails twice, then takes the
// alert; the body is signed with the webhook's secret over the timestamp.
func TestWebhookSignedAndRetried(t *testing.T) {
	var mu sync.Mutex
	var calls int
	got := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got <- Valid("0123456789abcdef", r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body) &&
			!Valid("another secret!!", r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body)
	}))
	defer srv.Close()
	var dead []Alert
	s := NewSender(SenderConfig{Attempts: 3, Backoff: 10 * time.Millisecond, DeadLetter: func(a Alert, _ Destination, _ error) { dead = append(dead, a) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Send(Alert{Rule: "r", State: StateFiring, Subject: "node:cam"}, Destination{Name: "ops", URL: srv.URL, Secret: "0123456789abcdef"})
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("signature does not verify")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("never delivered")
	}
	if len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
}

// TestAlertRulesWatchParse: the "watch" list parses into entries with
// clean paths, and the two device kinds are event kinds.
func TestAlertRulesWatchParse(t *testing.T) {
	rs, err := Parse("a.hujson", []byte(`{
  "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}],
  "watch": [{"tags": ["tag:gw"], "logs": [{"path": "/var/log/auth.log", "match": "Failed password"}], "files": ["/etc/passwd", "/opt/fw/"]}],
  "rules": [{"name": "auth", "kind": "log_match", "tags": ["tag:gw"], "to": ["ops"]}, {"name": "fim", "kind": "file_changed", "to": ["ops"]}],
}`))
	if err != nil {
		t.Fatal(err)
	}
	logs, files := rs.WatchFor([]string{"tag:gw"})
	if len(logs["/var/log/auth.log"]) != 1 || !slices.Equal(files, []string{"/etc/passwd", "/opt/fw"}) || !Event(KindLogMatch) || !Event(KindFileChanged) {
		t.Fatalf("watch %+v: logs %v files %v", rs.Watch, logs, files)
	}
	if logs, files := rs.WatchFor([]string{"tag:other"}); logs != nil || files != nil {
		t.Errorf("another tag watches %v %v", logs, files)
	}
}

// TestAlertRulesWatchProblemsAtLineCol: a bad expression, a relative path,
// an unknown key and a list over its bound are each reported at their
// line and column.
func TestAlertRulesWatchProblemsAtLineCol(t *testing.T) {
	many := `"/x"` + strings.Repeat(`, "/x"`, MaxWatchPaths)
	tests := []struct{ src, want string }{
		{"{\"watch\": [\n  {\"logs\": [{\"path\": \"/var/log/a\", \"match\": \"(unclosed\"}]}]}", `a.hujson:2:45: match "(unclosed": error parsing regexp`},
		{"{\"watch\": [\n  {\"files\": [\"etc/passwd\"]}]}", `a.hujson:2:14: files entry "etc/passwd" is not an absolute path`},
		{"{\"watch\": [\n  {\"paths\": []}]}", `a.hujson:2:4: unknown watch key "paths"`},
		{"{\"watch\": [\n  {\"logs\": [{\"path\": \"/var/log/a\"}]}]}", `a.hujson:2:13: a log needs "path" and "match"`},
		{"{\"watch\": [{\"files\": [" + many + "]}]}", `a.hujson:1:22: "files" has 33 entries; at most 32`},
	}
	for _, tc := range tests {
		_, err := Parse("a.hujson", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}
