package coordinator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

// fakeClock is the rollout engine's clock in tests: it moves only when
// told, so soaks and timeouts pass without sleeping.
type fakeClock struct {
	mu sync.Mutex // mu guards the following
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// startRolloutCoord starts a coordinator whose rollout engine runs on
// clk, judging every 20 ms, with tweak applied.
func startRolloutCoord(t *testing.T, clk *fakeClock, tweak func(*Config)) *testCoord {
	t.Helper()
	return startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.Clock, cfg.RolloutEvery = clk.now, 20*time.Millisecond
		if tweak != nil {
			tweak(cfg)
		}
	})
}

// sensors registers n tag:sensor nodes named s1, s2, ….
func (c *testCoord) sensors(n int) []*machine {
	ms := make([]*machine, n)
	for i := range ms {
		ms[i] = c.mustRegister([]string{"tag:sensor"}, fmt.Sprintf("s%d", i+1))
	}
	return ms
}

// getUpdate asks for m's assignment as a node does (GET wire.PathUpdate).
func (c *testCoord) getUpdate(m *machine) (int, wire.UpdateAssignment, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathUpdate, nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a wire.UpdateAssignment
	if resp.StatusCode == http.StatusOK {
		jsonUnmarshal(c.t, b, &a)
	}
	return resp.StatusCode, a, resp.Header
}

// report posts rep for m (raw: any JSON) and returns the status.
func (c *testCoord) report(m *machine, rep any) int {
	c.t.Helper()
	code, _ := c.call("POST", wire.PathUpdateReport, m.token, rep)
	return code
}

// mustFetch fails unless m is assigned rollout id now.
func (c *testCoord) mustFetch(m *machine, id int64) wire.UpdateAssignment {
	c.t.Helper()
	code, a, _ := c.getUpdate(m)
	if code != http.StatusOK || a.Rollout != id {
		c.t.Fatalf("fetch: %d %+v, want rollout %d", code, a, id)
	}
	return a
}

// createRollout creates req and returns the rollout.
func (c *testCoord) createRollout(req wire.RolloutCreate) wire.Rollout {
	c.t.Helper()
	var r wire.Rollout
	if code := c.admin("POST", wire.PathAdminRollouts, req, &r); code != http.StatusCreated {
		_, b := c.call("POST", wire.PathAdminRollouts, c.apiKey, req)
		c.t.Fatalf("create rollout: %d %s", code, b)
	}
	return r
}

func (c *testCoord) showRollout(id int64) wire.Rollout {
	c.t.Helper()
	var r wire.Rollout
	if code := c.admin("GET", fmt.Sprintf("%s/%d", wire.PathAdminRollouts, id), nil, &r); code != http.StatusOK {
		c.t.Fatalf("show rollout %d: %d", id, code)
	}
	return r
}

// waitRollout waits (20 s at most) until rollout id satisfies ok.
func (c *testCoord) waitRollout(id int64, what string, ok func(wire.Rollout) bool) wire.Rollout {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.showRollout(id)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("rollout %d never %s: %+v", id, what, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sensorRollout(waves ...string) wire.RolloutCreate {
	return wire.RolloutCreate{Target: "app/linux-amd64/app-2.0", Kind: wire.UpdateKindArtifact, Version: "2.0",
		Tags: []string{"tag:sensor"}, Waves: waves, SoakMillis: (10 * time.Minute).Milliseconds(),
		SuccessGate: "100%", FailureGate: "1", TimeoutMillis: time.Hour.Milliseconds()}
}

func ok(s wire.UpdateState, target string, id int64) wire.UpdateReport {
	return wire.UpdateReport{Rollout: id, Target: target, State: s}
}

// TestRolloutFailingWaveOnePausesBeforeWaveTwo pins issue 16's gates: a
// device of wave 1 failing its install trips the failure gate, which
// pauses the rollout (with the reason, audited, alerting) before wave 2's
// devices are assigned anything, however long one waits; an admin's
// resume acknowledges the failure, and the rollout goes on to wave 2
// after the soak.
func TestRolloutFailingWaveOnePausesBeforeWaveTwo(t *testing.T) {
	hooks := make(chan alert.Alert, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alert.Alert
		json.NewDecoder(r.Body).Decode(&a)
		hooks <- a
	}))
	defer hook.Close()
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "webhooks": [{"name": "ops", "url": %q, "secret": "rollout-test-secret-16"}],
  "rules": [{"name": "rollouts", "kind": "rollout_paused", "to": ["ops"]}],
}`, hook.URL))
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, func(cfg *Config) { cfg.AlertRules = rules })
	ms := c.sensors(4)
	r := c.createRollout(sensorRollout("2", "100%"))
	for _, m := range ms[:2] {
		c.mustFetch(m, r.ID)
	}
	for _, m := range ms[2:] {
		if code, a, _ := c.getUpdate(m); code != http.StatusNoContent {
			t.Fatalf("a wave-2 device before wave 2: %d %+v", code, a)
		}
	}
	tgt := r.Target
	for _, s := range []wire.UpdateState{wire.UpdateDownloading, wire.UpdateVerifying, wire.UpdateInstalling, wire.UpdateHealthy} {
		if code := c.report(ms[0], ok(s, tgt, r.ID)); code != http.StatusNoContent {
			t.Fatalf("report %s: %d", s, code)
		}
	}
	fail := wire.UpdateReport{Rollout: r.ID, Target: tgt, State: wire.UpdateFailed, Reason: "install: exit status 3: disk full"}
	if code := c.report(ms[1], fail); code != http.StatusNoContent {
		t.Fatalf("report failed: %d", code)
	}
	got := c.waitRollout(r.ID, "paused", func(r wire.Rollout) bool { return r.Status == "paused" })
	if got.Wave != 0 || !strings.Contains(got.PauseReason, "failure gate 1 tripped in wave 1") {
		t.Errorf("paused rollout: wave %d, reason %q", got.Wave, got.PauseReason)
	}
	if d := got.Progress[0].Devices[1]; d.State != wire.UpdateFailed || d.Reason != fail.Reason {
		t.Errorf("the failed device: %+v", d)
	}
	select {
	case a := <-hooks:
		if a.Kind != alert.KindRolloutPaused || a.Subject != fmt.Sprintf("rollout:%d", r.ID) || a.State != alert.StateFiring {
			t.Errorf("alert: %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert on the pause")
	}
	clk.add(24 * time.Hour) // far past the soak: a paused rollout stays put
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		for _, m := range ms[2:] {
			if code, _, _ := c.getUpdate(m); code != http.StatusNoContent {
				t.Fatalf("a wave-2 device while paused: %d", code)
			}
		}
	}
	c.wantAudit("rollout.pause", "system")

	if code := c.admin("POST", fmt.Sprintf("%s/%d/resume", wire.PathAdminRollouts, r.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("resume: %d", code)
	}
	if a := c.auditActors("rollout.resume"); len(a) != 1 || !strings.HasPrefix(a[0], "apikey:") {
		t.Errorf("rollout.resume audited by %v, want the API key", a)
	}
	clk.add(11 * time.Minute)
	c.waitRollout(r.ID, "at wave 2", func(r wire.Rollout) bool { return r.Wave == 1 && r.Status == "running" })
	for _, m := range ms[2:] {
		c.mustFetch(m, r.ID)
	}
}

// auditActors returns the actors of the audit events of action.
func (c *testCoord) auditActors(action string) []string {
	c.t.Helper()
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action="+action, nil, &evs)
	var out []string
	for _, e := range evs {
		out = append(out, e.Actor)
	}
	return out
}
