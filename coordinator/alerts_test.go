package coordinator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// TestAlertDeniedFlowsFromOneIdentity: N denied flows from one identity
// within T fire one alert (not one per batch) to a signed webhook on
// loopback, and a recovery once the window passes below N.
func TestAlertDeniedFlowsFromOneIdentity(t *testing.T) {
	hook := newSignedSink(t, "coordinator-test-secret")
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "soc", "url": %q, "secret": %q}],
  "rules": [{"name": "knocking", "kind": "denied_flows", "count": 5, "within": "2s", "to": ["soc"]}],
}`, hook.srv.URL, hook.secret))
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
	got := hook.alerts()
	for len(got) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = hook.alerts()
	}
	if len(got) != 2 || got[0].State != alert.StateFiring || got[1].State != alert.StateResolved ||
		got[0].Subject != "node:op (tag:operator)" {
		t.Fatalf("deliveries: %+v", got)
	}
}

// signedSink is a webhook on loopback that keeps the alerts delivered with
// a valid signature under secret and answers anything else 401.
type signedSink struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex // mu guards got
	// got are the alerts in arrival order.
	got []alert.Alert
}

func newSignedSink(t *testing.T, secret string) *signedSink {
	t.Helper()
	s := &signedSink{secret: secret}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var a alert.Alert
		if !alert.Valid(secret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body) ||
			json.Unmarshal(body, &a) != nil {
			http.Error(w, "bad delivery", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, a)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// alerts returns a copy of the alerts delivered so far.
func (s *signedSink) alerts() []alert.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// slackSink collects the texts a Slack-compatible hook on loopback gets.
type slackSink struct {
	srv *httptest.Server
	mu  sync.Mutex // mu guards texts
	// texts are the messages in arrival order.
	texts []string
}

func newSlackSink(t *testing.T) *slackSink {
	t.Helper()
	s := &slackSink{}
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

// waitText waits for a message containing want and returns how many
// messages contain it then.
func (s *slackSink) waitText(t *testing.T, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		n := 0
		for _, x := range s.texts {
			if strings.Contains(x, want) {
				n++
			}
		}
		all := strings.Join(s.texts, "\n")
		s.mu.Unlock()
		if n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert containing %q; got:\n%s", want, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many messages contain want now.
func (s *slackSink) count(want string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.texts {
		if strings.Contains(x, want) {
			n++
		}
	}
	return n
}

// TestAlertEventsAndExpiringKeys: a camera joining fires the joins rule
// (a device of another tag does not), a policy saved through the admin
// API fires the policy-change rule, a device key expiring within the
// warning fires once and resolves when the device is removed; all to a
// Slack-compatible hook.
func TestAlertEventsAndExpiringKeys(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [
    {"name": "new camera", "kind": "device_joined", "tags": ["tag:camera"], "severity": "info", "to": ["chat"]},
    {"name": "policy edits", "kind": "policy_change", "to": ["chat"]},
    {"name": "keys", "kind": "key_expiring", "within": "1h", "tags": ["tag:camera"], "to": ["chat"]},
  ],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.AlertRules, cfg.AlertEvery, cfg.KeyLifetime = rules, 50*time.Millisecond, 30*time.Minute
	})
	c.mustRegister([]string{"tag:camera"}, "cam1")
	c.mustRegister([]string{"tag:operator"}, "op1")
	sink.waitText(t, "[FIRING] [info] new camera: cam1 joined the fleet")
	sink.waitText(t, "[FIRING] [warning] keys: cam1's key expires at")
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: testPolicy + "\n", ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("policy save: %d", code)
	}
	sink.waitText(t, "[FIRING] [warning] policy edits: policy.set by")
	if code := c.admin("DELETE", wire.PathAdminNodes+"/cam1", nil, nil); code != 204 {
		t.Fatalf("remove cam1: %d", code)
	}
	sink.waitText(t, "[RESOLVED] [warning] keys: cam1's key renewed or the device removed")
	if n := sink.count("op1 joined"); n != 0 {
		t.Errorf("the operator's join fired the camera rule %d times", n)
	}
	if n := sink.count("keys: cam1's key expires"); n != 1 {
		t.Errorf("the expiring key alerted %d times; want once while it stayed open", n)
	}
}

// TestAlertAdminLoginAndAlertsPage: a person's admin UI login through the
// dev IdP fires the admin-login rule, naming them; the alerts page shows
// an expiring key's open alert, which an auditor may not acknowledge and
// an owner acknowledges from the page.
func TestAlertAdminLoginAndAlertsPage(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [{"name": "admin logins", "kind": "admin_login", "severity": "info", "to": ["chat"]},
            {"name": "keys", "kind": "key_expiring", "within": "1h", "to": ["chat"]}],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile = pf
		cfg.AdminRoles = map[string]admin.Role{"carol@example.com": admin.RoleOwner, "bob@example.com": admin.RoleAuditor}
		cfg.AlertRules, cfg.AlertEvery, cfg.KeyLifetime = rules, 50*time.Millisecond, 30*time.Minute
	})
	role, cb, cp := c.uiRole(carol)
	if role != "owner" {
		t.Fatalf("carol's role %q", role)
	}
	sink.waitText(t, "[FIRING] [info] admin logins: user:carol@example.com logged in to the admin UI")

	c.mustRegister([]string{"tag:camera"}, "cam1")
	sink.waitText(t, "keys: cam1's key expires")
	var open []wire.AdminAlert
	if code := c.uiAPI(cb, cp, "GET", wire.PathAdminAlerts, nil, &open); code != 200 || len(open) != 1 || open[0].Rule != "keys" {
		t.Fatalf("open alerts: %d %+v", code, open)
	}
	id := open[0].ID
	_, bb, bp := c.uiRole(bob)
	if code := c.uiAPI(bb, bp, "POST", fmt.Sprintf("%s/%d/ack", wire.PathAdminAlerts, id), nil, nil); code != http.StatusForbidden {
		t.Errorf("an auditor acknowledged an alert: %d", code)
	}
	page, err := cb.Open(t.Context(), c.http.URL+"/ui/alerts")
	if err != nil || !strings.Contains(page.Body, fmt.Sprintf(`id="ack-%d"`, id)) || !strings.Contains(page.Body, "cam1&#39;s key expires") {
		t.Fatalf("alerts page: %v\n%s", err, page.Body)
	}
	if _, err := cb.SubmitForm(t.Context(), page, fmt.Sprintf("/ui/alerts/%d/ack", id), nil); err != nil {
		t.Fatalf("acknowledge from the page: %v", err)
	}
	page, err = cb.Open(t.Context(), c.http.URL+"/ui/alerts?state=acknowledged")
	if err != nil || !strings.Contains(page.Body, "by user:carol@example.com") || strings.Contains(page.Body, fmt.Sprintf(`id="ack-%d"`, id)) {
		t.Fatalf("acknowledged alerts page: %v\n%s", err, page.Body)
	}
	if code := c.uiAPI(cb, cp, "GET", wire.PathAdminAlerts+"?state=nonsense", nil, nil); code != http.StatusBadRequest {
		t.Errorf("alerts in a state that does not exist: %d, want 400", code)
	}
}

// TestAlertOpenAcrossRestart: an alert open when the coordinator stops is
// loaded by the next one, which neither fires it again nor forgets its
// recovery, and the alerts API lists it resolved.
func TestAlertOpenAcrossRestart(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [{"name": "keys", "kind": "key_expiring", "within": "1h", "to": ["chat"]}],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	d := newCoordDir(t, testPolicy)
	d.tweak = func(cfg *Config) {
		cfg.AlertRules, cfg.AlertEvery, cfg.KeyLifetime = rules, 50*time.Millisecond, 30*time.Minute
	}
	c := d.start("")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	sink.waitText(t, "keys: cam1's key expires")
	c.stop()
	c = d.start("")
	if code := c.admin("DELETE", wire.PathAdminNodes+"/cam1", nil, nil); code != 204 {
		t.Fatalf("remove cam1: %d", code)
	}
	sink.waitText(t, "[RESOLVED] [warning] keys: cam1's key renewed or the device removed")
	if n := sink.count("[FIRING] [warning] keys: cam1"); n != 1 {
		t.Errorf("the alert fired %d times across the restart; want once", n)
	}
}

// TestAlertDeniedFlowsCountLiveFromTheNode: a node's live denied counts
// feed the denied-flow rule before any record is stored; the closed
// record of a node that sends live counts is stored but not counted
// again; live counts for a flow whose destination is not the posting
// node, or too many of them, are refused whole.
func TestAlertDeniedFlowsCountLiveFromTheNode(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [{"name": "knocking", "kind": "denied_flows", "count": 5, "within": "10m", "to": ["chat"]}],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.AlertRules, cfg.AlertEvery = rules, 100*time.Millisecond })
	cam, op, sensor := newMachine(t), newMachine(t), newMachine(t)
	_, camNode := c.register(cam, c.authKey([]string{"tag:camera"}, false, ""), "cam")
	_, opNode := c.register(op, c.authKey([]string{"tag:operator"}, false, ""), "op")
	c.register(sensor, c.authKey([]string{"tag:sensor"}, false, ""), "sensor")
	now := time.Now().UTC().Truncate(time.Second)
	live := func(n int) wire.DeniedCount {
		return wire.DeniedCount{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: filter.ProtoTCP, Port: 23, At: now, Count: n}
	}
	post := func(who *machine, b any, want int) {
		t.Helper()
		if code, body := c.call("POST", wire.PathFlows, who.token, b); code != want {
			t.Fatalf("post %+v: %d %s, want %d", b, code, body, want)
		}
	}
	// The sensor announces the camera's denied attempts; op announces
	// attempts toward the camera as if refused at home; too many counts.
	post(sensor, wire.FlowBatch{DeniedLiveSent: true, DeniedLive: []wire.DeniedCount{live(50)}}, 400)
	post(op, wire.FlowBatch{DeniedLiveSent: true, DeniedLive: []wire.DeniedCount{live(50)}}, 400)
	post(cam, wire.FlowBatch{DeniedLiveSent: true, DeniedLive: make([]wire.DeniedCount, wire.MaxDeniedLivePerBatch+1)}, 400)

	post(cam, wire.FlowBatch{DeniedLiveSent: true, DeniedLive: []wire.DeniedCount{live(3)}}, 204)
	if fs := c.flowsOf(nil); len(fs) != 0 {
		t.Fatalf("live counts stored as records: %+v", fs)
	}
	// The window closes: its record (the same 3 attempts) is stored, not
	// counted again; 2 more live attempts make 5.
	rec := wire.FlowRecord{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: filter.ProtoTCP, Port: 23, Inbound: true, Denied: true,
		Start: now, End: now, Count: 3}
	post(cam, wire.FlowBatch{DeniedLiveSent: true, Records: []wire.FlowRecord{rec}}, 204)
	post(cam, wire.FlowBatch{DeniedLiveSent: true, DeniedLive: []wire.DeniedCount{live(2)}}, 204)
	sink.waitText(t, "denied flows from node:op (tag:operator)")
	if n := sink.count("knocking: 5 denied flows from node:op"); n != 1 {
		sink.mu.Lock()
		t.Errorf("want the rule fired at 5 attempts (3 live + 2 live), the record not counted again; got:\n%s",
			strings.Join(sink.texts, "\n"))
		sink.mu.Unlock()
	}
	if fs := c.flowsOf(url.Values{"denied": {"1"}}); len(fs) != 1 || fs[0].Count != 3 {
		t.Errorf("stored %+v, want the one closed record", fs)
	}
}

// TestAcknowledgedAlertNotRepeated: once an alert is acknowledged (here
// straight in the store, as another coordinator on the database would),
// its group's repeats leave it out; a new alert in the same group still
// goes out and repeats. It fails on a dispatcher that ignores
// acknowledgements (every repeat lists cam1 again).
func TestAcknowledgedAlertNotRepeated(t *testing.T) {
	hook := newSignedSink(t, "coordinator-test-secret")
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "ops", "url": %q, "secret": %q}],
  "rules": [{"name": "keys", "kind": "key_expiring", "within": "1h", "to": ["ops"],
             "groupBy": ["rule"], "groupWait": "0s", "groupInterval": "0s", "repeatInterval": "1s"}],
}`, hook.srv.URL, hook.secret))
	if err != nil {
		t.Fatal(err)
	}
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.AlertRules, cfg.AlertEvery, cfg.KeyLifetime = rules, 50*time.Millisecond, 30*time.Minute
	})
	// firing lists the firing subjects of each delivery.
	firing := func() [][]string {
		var out [][]string
		for _, a := range hook.alerts() {
			var s []string
			for _, m := range append([]alert.Alert{a}, a.Alerts...) {
				if m.Subject != "" && len(m.Alerts) == 0 && m.State == alert.StateFiring {
					s = append(s, m.Subject)
				}
			}
			out = append(out, s)
		}
		return out
	}
	with := func(subject string) int {
		n := 0
		for _, d := range firing() {
			if slices.Contains(d, subject) {
				n++
			}
		}
		return n
	}
	c.mustRegister([]string{"tag:camera"}, "cam1")
	waitFor(t, "cam1's alert and a repeat", func() bool { return with("node:cam1") >= 2 })
	open, err := c.srv.st.ListAlerts(t.Context(), []store.AlertState{store.AlertFiring}, 0)
	if err != nil || len(open) != 1 || open[0].Subject != "node:cam1" {
		t.Fatalf("open alerts: %v %+v", err, open)
	}
	if _, err := c.srv.st.AckAlert(t.Context(), open[0].ID, "ops@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	c.mustRegister([]string{"tag:camera"}, "cam2")
	waitFor(t, "cam2's alert and two repeats", func() bool { return with("node:cam2") >= 3 })
	ds := firing()
	var last []string
	for _, d := range ds {
		if slices.Contains(d, "node:cam2") {
			last = d
		}
	}
	if slices.Contains(last, "node:cam1") {
		t.Fatalf("a repeat after the acknowledgement still lists cam1: %v (all deliveries %v)", last, ds)
	}
}
