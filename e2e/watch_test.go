package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node/watch"
	"github.com/wardnet/ward/nodetest"
)

// chatSink is a Slack-compatible incoming webhook on loopback.
type chatSink struct {
	srv *httptest.Server

	mu    sync.Mutex // mu guards texts
	texts []string
}

func newChatSink(t *testing.T) *chatSink {
	s := &chatSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.texts = append(s.texts, body.Text)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// got returns the texts received so far.
func (s *chatSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.texts)
}

// has reports whether a received text contains want.
func (s *chatSink) has(want string) func() bool {
	return func() bool {
		return slices.ContainsFunc(s.got(), func(x string) bool { return strings.Contains(x, want) })
	}
}

func sha256Hex(b string) string {
	h := sha256.Sum256([]byte(b))
	return hex.EncodeToString(h[:])
}

// TestWatchDeviceLogRotationTruncationAndFiles: a gateway whose tag has a
// watch entry follows a real log the test appends to, rotates (rename and
// a new file) and truncates, and hashes a real file and directory the
// test modifies; a Slack-compatible hook on loopback receives exactly one
// alert per matching line and per change, and nothing else. Once with a
// short poll, once with an hour's: then only file notifications
// (fsnotify) wake the node.
func TestWatchDeviceLogRotationTruncationAndFiles(t *testing.T) {
	t.Run("poll", func(t *testing.T) { testWatchDevice(t, 100*time.Millisecond) })
	t.Run("notify", func(t *testing.T) { testWatchDevice(t, time.Hour) })
}

func testWatchDevice(t *testing.T, poll time.Duration) {
	sink := newChatSink(t)
	dir := t.TempDir()
	logPath, passwd, fw := filepath.Join(dir, "auth.log"), filepath.Join(dir, "passwd"), filepath.Join(dir, "fw")
	write := func(p, s string, flag int) {
		t.Helper()
		f, err := os.OpenFile(p, flag|os.O_WRONLY|os.O_CREATE, 0o600)
		if err == nil {
			_, err = f.WriteString(s)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	appendLog := func(s string) { write(logPath, s, os.O_APPEND) }
	write(logPath, "0 Failed password for root (before the watch: not news)\n", 0)
	write(passwd, "root:x:0:0\n", 0)
	if err := os.Mkdir(fw, 0o700); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(fw, "image.bin"), "firmware 1", 0)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "watch": [{"tags": ["tag:gw"], "logs": [{"path": %q, "match": "Failed password"}], "files": [%q, %q]}],
  "rules": [
    {"name": "auth", "kind": "log_match", "tags": ["tag:gw"], "severity": "critical", "to": ["chat"]},
    {"name": "integrity", "kind": "file_changed", "to": ["chat"]},
  ],
}`, sink.srv.URL, logPath, passwd, fw+"/"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, `{"tagOwners": {"tag:gw": [], "tag:operator": []}}`, func(c *assembly.Config) {
		c.AlertRules, c.AlertBackoff = rules, 100*time.Millisecond
	})
	gw := f.startAgent("gw1", f.authKey("tag:gw"), "", agentOpts{watchPoll: poll, watchLogsUnder: []string{dir}})
	f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{watchPoll: poll}) // watches nothing

	// The node follows the log and has its baseline of the files once
	// its state file says so.
	waitFor(t, "the gateway's watch state", func() bool {
		b, err := os.ReadFile(filepath.Join(gw.Dir, watch.StateFile))
		var st struct {
			Logs  map[string]json.RawMessage
			Roots []string
		}
		return err == nil && json.Unmarshal(b, &st) == nil && st.Logs[logPath] != nil && len(st.Roots) == 2
	})
	want := []string{}
	expect := func(what, text string) {
		t.Helper()
		want = append(want, text)
		nodetest.Eventually(t, 30*time.Second, what, sink.has(text))
	}

	appendLog("1 Failed password for root from 192.0.2.1\nAccepted publickey for ops\n")
	expect("a matching line", `[FIRING] [critical] auth: gw1: `+logPath+`: "1 Failed password for root from 192.0.2.1" (node:gw1)`)

	appendLog("2 Failed password for admin\n")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	write(logPath+".1", "3 Failed password, written late to the old file\n", os.O_APPEND)
	appendLog("4 Failed password for root in the new file\n")
	expect("the line before the rotation", `"2 Failed password for admin"`)
	expect("the line written late to the rotated file", `"3 Failed password, written late to the old file"`)
	expect("the line in the new file", `"4 Failed password for root in the new file"`)

	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	appendLog("5 Failed password\n")
	expect("the line after the truncation", `"5 Failed password"`)

	write(passwd, "mallory:x:0:0\n", os.O_APPEND)
	expect("the modified file", fmt.Sprintf("[FIRING] [warning] integrity: gw1: %s modified (sha256 %s -> %s)", passwd,
		sha256Hex("root:x:0:0\n"), sha256Hex("root:x:0:0\nmallory:x:0:0\n")))
	write(filepath.Join(fw, "image.bin"), "firmware 2", os.O_TRUNC)
	expect("the modified firmware", fmt.Sprintf("integrity: gw1: %s modified (sha256 %s -> %s)", filepath.Join(fw, "image.bin"),
		sha256Hex("firmware 1"), sha256Hex("firmware 2")))
	write(filepath.Join(fw, "backdoor.bin"), "x", 0)
	expect("the added firmware file", fmt.Sprintf("integrity: gw1: %s added (sha256 none -> %s)", filepath.Join(fw, "backdoor.bin"), sha256Hex("x")))

	time.Sleep(time.Second) // ten more polls: nothing repeats, nothing else comes
	got := sink.got()
	for _, w := range want {
		if n := len(slices.DeleteFunc(slices.Clone(got), func(x string) bool { return !strings.Contains(x, w) })); n != 1 {
			t.Errorf("%d alerts containing %q, want 1", n, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d alerts, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}
