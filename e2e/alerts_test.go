package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

const hookSecret = "e2e-webhook-secret-0123"

// hookReceiver is a webhook receiver on loopback that refuses its first
// delivery (so the coordinator must retry) and keeps the alerts whose
// signature verifies.
type hookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex // mu guards the following
	calls    int
	alerts   []alert.Alert
	badSigns int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls++
		if h.calls == 1 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		if !alert.Valid(hookSecret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body) {
			h.badSigns++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var a alert.Alert
		json.Unmarshal(body, &a)
		h.alerts = append(h.alerts, a)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) got() []alert.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alert.Alert(nil), h.alerts...)
}

// TestAlertOfflineDeviceOneAlertOneRecovery: a camera stopped for longer
// than the rule's "for" gives exactly one alert and, once it is back, one
// recovery, each delivered signed to a real webhook receiver on loopback
// (the first delivery refused, so it came by a retry).
func TestAlertOfflineDeviceOneAlertOneRecovery(t *testing.T) {
	hook := newHookReceiver(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "ops", "url": %q, "secret": %q}],
  "rules": [{"name": "camera offline", "kind": "device_offline", "for": "2s", "tags": ["tag:camera"], "severity": "critical", "to": ["ops"]}],
}`, hook.srv.URL, hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, `{"tagOwners": {"tag:camera": [], "tag:operator": []}}`, func(c *assembly.Config) {
		c.AlertRules, c.AlertEvery, c.AlertBackoff = rules, 200*time.Millisecond, 100*time.Millisecond
	})
	cam := f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{})
	f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{}) // online all along: never alerted
	online := func(want bool) func() bool {
		return func() bool {
			var n wire.AdminNode
			code, _ := f.Admin("GET", wire.PathAdminNodes+"/cam1", nil, &n)
			return code == 200 && n.Online == want
		}
	}
	waitFor(t, "cam1 online", online(true))
	cam.Stop()
	waitFor(t, "cam1 offline", online(false))
	nodetest.Eventually(t, 30*time.Second, "the offline alert", func() bool { return len(hook.got()) >= 1 })
	time.Sleep(time.Second) // five more evaluations while it stays down

	// The operator sees it open with `ward admin alerts` and acknowledges
	// it once.
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ward := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), append([]string{"admin", "--coordinator", f.url(), "--api-key-file", keyFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	var open []wire.AdminAlert
	out, err := ward("--json", "alerts", "list")
	if err != nil || json.Unmarshal([]byte(out), &open) != nil || len(open) != 1 || open[0].State != "firing" || open[0].Subject != "node:cam1" {
		t.Fatalf("ward admin alerts list: %v\n%s", err, out)
	}
	id := strconv.FormatInt(open[0].ID, 10)
	if out, err := ward("alerts", "ack", id); err != nil || !strings.Contains(out, "alert "+id+" acknowledged by ") {
		t.Fatalf("ward admin alerts ack: %v\n%s", err, out)
	}
	if out, err := ward("alerts", "ack", id); err == nil || !strings.Contains(out, "acknowledged") {
		t.Errorf("acknowledging twice: %v\n%s; want refused, saying it is acknowledged", err, out)
	}
	f.startAgent("cam1", "", cam.Dir, agentOpts{})
	nodetest.Eventually(t, 30*time.Second, "the recovery", func() bool { return len(hook.got()) >= 2 })
	time.Sleep(time.Second) // five more evaluations while it stays up
	got := hook.got()
	if len(got) != 2 || got[0].State != alert.StateFiring || got[1].State != alert.StateResolved {
		t.Fatalf("deliveries: %+v", got)
	}
	for _, a := range got {
		if a.Subject != "node:cam1" || a.Rule != "camera offline" || a.Severity != "critical" {
			t.Errorf("alert %+v", a)
		}
	}
	if hook.badSigns != 0 {
		t.Errorf("%d deliveries with a bad signature", hook.badSigns)
	}
	var resolved []wire.AdminAlert
	out, err = ward("--json", "alerts", "list", "--state", "resolved")
	if err != nil || json.Unmarshal([]byte(out), &resolved) != nil || len(resolved) != 1 || resolved[0].ID != open[0].ID ||
		resolved[0].AckedBy == "" || resolved[0].EndsAt.IsZero() {
		t.Errorf("resolved alerts: %v\n%s", err, out)
	}
	if out, err := ward("alerts", "list", "--state", "bogus"); err == nil || !strings.Contains(out, `alert state "bogus"`) {
		t.Errorf("a bad state: %v\n%s; want a clear refusal", err, out)
	}
}

// TestAlertGroupRepeatInhibit: two cameras going offline together reach a
// real webhook receiver as one grouped notification, which is repeated
// after the repeat interval; while their site's gateway is offline a
// third camera's alert is inhibited (stored, shown as inhibited by `ward
// admin alerts list`, never delivered), and a camera coming back still
// gets its recovery delivered.
func TestAlertGroupRepeatInhibit(t *testing.T) {
	hook := newHookReceiver(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "ops", "url": %q, "secret": %q}],
  "rules": [
    {"name": "camera offline", "kind": "device_offline", "for": "1s", "tags": ["tag:camera"], "to": ["ops"],
     "groupBy": ["rule"], "groupWait": "3s", "groupInterval": "1s", "repeatInterval": "4s"},
    {"name": "gateway offline", "kind": "device_offline", "for": "1s", "tags": ["tag:gateway"], "severity": "critical", "to": ["ops"]},
  ],
  "inhibit": [{"source": {"rule": "gateway offline"}, "target": {"rule": "camera offline"}, "equal": ["tags"]}],
}`, hook.srv.URL, hookSecret))
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, `{"tagOwners": {"tag:camera": [], "tag:gateway": [], "tag:site-a": []}}`, func(c *assembly.Config) {
		c.AlertRules, c.AlertEvery, c.AlertBackoff = rules, 200*time.Millisecond, 100*time.Millisecond
	})
	gw := f.startAgent("gw1", f.authKey("tag:gateway", "tag:site-a"), "", agentOpts{})
	cams := map[string]*agent{}
	for _, n := range []string{"cam1", "cam2", "cam3"} {
		cams[n] = f.startAgent(n, f.authKey("tag:camera", "tag:site-a"), "", agentOpts{})
	}
	online := func(name string, want bool) func() bool {
		return func() bool {
			var n wire.AdminNode
			code, _ := f.Admin("GET", wire.PathAdminNodes+"/"+name, nil, &n)
			return code == 200 && n.Online == want
		}
	}
	for _, n := range []string{"gw1", "cam1", "cam2", "cam3"} {
		waitFor(t, n+" online", online(n, true))
	}
	// camera returns the deliveries of the camera rule.
	camera := func() []alert.Alert {
		var out []alert.Alert
		for _, a := range hook.got() {
			if a.Rule == "camera offline" {
				out = append(out, a)
			}
		}
		return out
	}
	subjects := func(a alert.Alert) string {
		var s []string
		for _, m := range append([]alert.Alert{a}, a.Alerts...) {
			if m.Subject != "" && len(m.Alerts) == 0 {
				s = append(s, m.State+" "+m.Subject)
			}
		}
		return strings.Join(s, ", ")
	}
	cams["cam1"].Stop()
	cams["cam2"].Stop()
	nodetest.Eventually(t, 30*time.Second, "the grouped notification", func() bool { return len(camera()) >= 1 })
	first := camera()[0]
	if len(first.Alerts) != 2 || first.State != alert.StateFiring || !strings.Contains(subjects(first), "node:cam1") ||
		!strings.Contains(subjects(first), "node:cam2") {
		t.Fatalf("first notification: %s (%+v); want cam1 and cam2 in one", subjects(first), first)
	}
	nodetest.Eventually(t, 30*time.Second, "the repeat", func() bool { return len(camera()) >= 2 })
	if again := camera()[1]; len(again.Alerts) != 2 || subjects(again) != subjects(first) {
		t.Fatalf("repeat: %s; want %s", subjects(again), subjects(first))
	}

	// The gateway goes down; then cam3, on the gateway's site.
	gw.Stop()
	nodetest.Eventually(t, 30*time.Second, "the gateway's alert", func() bool {
		return slices.ContainsFunc(hook.got(), func(a alert.Alert) bool { return a.Subject == "node:gw1" })
	})
	cams["cam3"].Stop()
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ward := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), append([]string{"admin", "--coordinator", f.url(), "--api-key-file", keyFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	nodetest.Eventually(t, 30*time.Second, "cam3's alert stored as inhibited", func() bool {
		var open []wire.AdminAlert
		out, err := ward("--json", "alerts", "list")
		return err == nil && json.Unmarshal([]byte(out), &open) == nil && slices.ContainsFunc(open, func(a wire.AdminAlert) bool {
			return a.Subject == "node:cam3" && a.Inhibited && a.NotifiedAt.IsZero()
		})
	})
	if out, err := ward("alerts", "list"); err != nil || !strings.Contains(out, "firing (inhibited)") {
		t.Errorf("ward admin alerts list: %v\n%s; want the inhibited alert marked", err, out)
	}

	// cam1 comes back: its recovery is delivered, cam3's alert still not.
	f.startAgent("cam1", "", cams["cam1"].Dir, agentOpts{})
	nodetest.Eventually(t, 30*time.Second, "cam1's recovery", func() bool {
		return slices.ContainsFunc(camera(), func(a alert.Alert) bool { return strings.Contains(subjects(a), "resolved node:cam1") })
	})
	for _, a := range hook.got() {
		if strings.Contains(subjects(a), "node:cam3") {
			t.Errorf("the inhibited alert was delivered: %s", subjects(a))
		}
	}
	if hook.badSigns != 0 {
		t.Errorf("%d deliveries with a bad signature", hook.badSigns)
	}
}
