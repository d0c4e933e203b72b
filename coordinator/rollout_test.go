package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/internal/pgtest"
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

// TestRolloutSilentDeviceTimesOutAsFailed pins hawkBit's bug away: a
// device that fetched its update and went silent mid-download, and one
// that never asked at all (bricked before the rollout), count as failed
// once the rollout's timeout passes, and their failures trip the gate,
// so the rollout does not stay in progress forever.
func TestRolloutSilentDeviceTimesOutAsFailed(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	ms := c.sensors(3)
	req := sensorRollout("100%")
	req.FailureGate, req.MinSample, req.TimeoutMillis = "2", 3, (10 * time.Minute).Milliseconds()
	r := c.createRollout(req)
	c.mustFetch(ms[0], r.ID)
	c.mustFetch(ms[1], r.ID)
	if code := c.report(ms[0], ok(wire.UpdateHealthy, r.Target, r.ID)); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	if code := c.report(ms[1], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateDownloading, Progress: 40}); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	clk.add(9 * time.Minute)
	time.Sleep(100 * time.Millisecond) // several rounds: nothing is due yet
	if got := c.showRollout(r.ID); got.Status != "running" || got.Progress[0].Devices[1].State != wire.UpdateDownloading {
		t.Fatalf("before the timeout: %+v", got)
	}
	clk.add(2 * time.Minute)
	got := c.waitRollout(r.ID, "paused", func(r wire.Rollout) bool { return r.Status == "paused" })
	for _, d := range got.Progress[0].Devices[1:] {
		if d.State != wire.UpdateFailed || !strings.Contains(d.Reason, "timed out") {
			t.Errorf("silent device %s: %+v, want failed (timed out)", d.Node, d)
		}
	}
	if !strings.Contains(got.PauseReason, "2 of 3 ended devices failed") {
		t.Errorf("pause reason %q", got.PauseReason)
	}
	if code := c.report(ms[1], ok(wire.UpdateHealthy, r.Target, r.ID)); code != http.StatusConflict {
		t.Errorf("a report after the timeout: %d, want 409 (the device's update ended)", code)
	}
}

// TestUpdateReportRefusesWhatWasNotAssigned replays a modified client's
// reports: for a rollout that did not assign the node anything, another
// target, a rollout that does not exist, before the node fetched it, an
// unknown state, progress 500, an oversized reason, and without a
// session. None changes a device's state.
func TestUpdateReportRefusesWhatWasNotAssigned(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	ms := c.sensors(3)
	outsider := c.mustRegister([]string{"tag:camera"}, "cam1")
	r := c.createRollout(sensorRollout("2", "100%"))
	c.mustFetch(ms[0], r.ID)
	for _, tc := range []struct {
		name string
		m    *machine
		rep  any
		want int
	}{
		{"another node's rollout", outsider, ok(wire.UpdateHealthy, r.Target, r.ID), http.StatusForbidden},
		{"another target", ms[0], ok(wire.UpdateHealthy, "ward/linux-amd64/ward-9.9", r.ID), http.StatusForbidden},
		{"no such rollout", ms[0], ok(wire.UpdateHealthy, r.Target, r.ID+100), http.StatusForbidden},
		{"not fetched yet", ms[1], ok(wire.UpdateHealthy, r.Target, r.ID), http.StatusConflict},
		{"a later wave's device", ms[2], ok(wire.UpdateHealthy, r.Target, r.ID), http.StatusConflict},
		{"unknown state", ms[0], map[string]any{"rollout": r.ID, "target": r.Target, "state": "bricked"}, http.StatusBadRequest},
		{"progress 500", ms[0], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateDownloading, Progress: 500}, http.StatusBadRequest},
		{"reason too long", ms[0], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateFailed, Reason: strings.Repeat("x", wire.MaxUpdateReasonBytes+1)}, http.StatusBadRequest},
		{"rollout 0", ms[0], ok(wire.UpdateHealthy, r.Target, 0), http.StatusBadRequest},
	} {
		if code := c.report(tc.m, tc.rep); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if code, _ := c.call("POST", wire.PathUpdateReport, "", ok(wire.UpdateHealthy, r.Target, r.ID)); code != http.StatusUnauthorized {
		t.Errorf("without a session: %d, want 401", code)
	}
	if code, _ := c.call("GET", wire.PathUpdate, "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET without a session: %d, want 401", code)
	}
	got := c.showRollout(r.ID)
	for _, w := range got.Progress {
		for _, d := range w.Devices {
			if d.State.Final() {
				t.Errorf("device %s ended after refused reports: %+v", d.Node, d)
			}
		}
	}
}

// TestUpdateReportRefusesOverlongFields: a modified device reporting an
// over-long running version or target path is answered 400 and nothing
// is recorded (the running version went into the audit log unbounded).
func TestUpdateReportRefusesOverlongFields(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	ms := c.sensors(1)
	r := c.createRollout(sensorRollout("100%"))
	c.mustFetch(ms[0], r.ID)
	for _, tc := range []struct {
		name string
		rep  wire.UpdateReport
	}{
		{"running too long", wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateHealthy, Running: strings.Repeat("9", wire.MaxUpdateVersionBytes+1)}},
		{"target too long", wire.UpdateReport{Rollout: r.ID, Target: strings.Repeat("a", 513), State: wire.UpdateHealthy}},
		{"target not a path", wire.UpdateReport{Rollout: r.ID, Target: "../" + r.Target, State: wire.UpdateHealthy}},
	} {
		if code := c.report(ms[0], tc.rep); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.name, code)
		}
	}
	for _, w := range c.showRollout(r.ID).Progress {
		for _, d := range w.Devices {
			if d.State.Final() {
				t.Errorf("device %s ended after refused reports: %+v", d.Node, d)
			}
		}
	}
	if code := c.report(ms[0], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateHealthy, Running: strings.Repeat("9", wire.MaxUpdateVersionBytes)}); code != http.StatusNoContent {
		t.Errorf("running at the bound: %d, want 204", code)
	}
}

// TestRolloutAdminPauseResumeAbort pins the admin's hand on a rollout:
// a pause holds back devices that have not fetched it (those that have
// keep their assignment, mid-update), a resume hands it out again, an
// abort ends it for everyone; a move from the wrong status is a
// conflict, reading takes no more than read access and acting takes the
// fleet permission; every action is audited.
func TestRolloutAdminPauseResumeAbort(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	ms := c.sensors(3)
	r := c.createRollout(sensorRollout("100%"))
	c.mustFetch(ms[0], r.ID)
	act := func(action string) int {
		return c.admin("POST", fmt.Sprintf("%s/%d/%s", wire.PathAdminRollouts, r.ID, action), nil, nil)
	}
	if code := act("pause"); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	if got := c.showRollout(r.ID); got.Status != "paused" || !strings.HasPrefix(got.PauseReason, "paused by apikey:") {
		t.Errorf("after pause: %s %q", got.Status, got.PauseReason)
	}
	if code, _, _ := c.getUpdate(ms[1]); code != http.StatusNoContent {
		t.Errorf("a device that had not fetched it, while paused: %d, want 204", code)
	}
	c.mustFetch(ms[0], r.ID) // mid-update: it keeps it
	if code := act("pause"); code != http.StatusConflict {
		t.Errorf("pausing a paused rollout: %d, want 409", code)
	}
	if code := act("resume"); code != http.StatusOK {
		t.Fatalf("resume: %d", code)
	}
	c.mustFetch(ms[1], r.ID)
	if code := act("abort"); code != http.StatusOK {
		t.Fatalf("abort: %d", code)
	}
	for i, m := range ms {
		if code, _, _ := c.getUpdate(m); code != http.StatusNoContent {
			t.Errorf("device %d after abort: %d, want 204", i, code)
		}
	}
	if code := act("resume"); code != http.StatusConflict {
		t.Errorf("resuming an aborted rollout: %d, want 409", code)
	}
	if code := act("explode"); code != http.StatusNotFound {
		t.Errorf("an unknown action: %d, want 404", code)
	}
	for _, a := range []string{"rollout.create", "rollout.pause", "rollout.resume", "rollout.abort"} {
		if len(c.auditActors(a)) != 1 {
			t.Errorf("%s audited %d times, want 1", a, len(c.auditActors(a)))
		}
	}
	var list []wire.Rollout
	if code := c.admin("GET", wire.PathAdminRollouts, nil, &list); code != http.StatusOK || len(list) != 1 || list[0].Status != "aborted" {
		t.Errorf("list: %d %+v", code, list)
	}
}

// TestRolloutCreateValidates refuses rollouts that cannot run: no
// target, an unknown kind, no selection or one that selects nothing,
// unknown devices, bad waves and gates, and no timeout (a silent device
// would hold the rollout forever).
func TestRolloutCreateValidates(t *testing.T) {
	c := startRolloutCoord(t, newFakeClock(), nil)
	c.sensors(1)
	for name, edit := range map[string]func(*wire.RolloutCreate){
		"no target":        func(r *wire.RolloutCreate) { r.Target = "" },
		"unknown kind":     func(r *wire.RolloutCreate) { r.Kind = "firmware" },
		"no version":       func(r *wire.RolloutCreate) { r.Version = "" },
		"no selection":     func(r *wire.RolloutCreate) { r.Tags = nil },
		"selects nothing":  func(r *wire.RolloutCreate) { r.Tags = []string{"tag:camera"} },
		"unknown device":   func(r *wire.RolloutCreate) { r.Devices = []string{"nosuch"} },
		"no waves":         func(r *wire.RolloutCreate) { r.Waves = nil },
		"wave 0":           func(r *wire.RolloutCreate) { r.Waves = []string{"0"} },
		"wave 150%":        func(r *wire.RolloutCreate) { r.Waves = []string{"150%"} },
		"bad success gate": func(r *wire.RolloutCreate) { r.SuccessGate = "most" },
		"bad failure gate": func(r *wire.RolloutCreate) { r.FailureGate = "-1" },
		"no timeout":       func(r *wire.RolloutCreate) { r.TimeoutMillis = 0 },
		"negative soak":    func(r *wire.RolloutCreate) { r.SoakMillis = -1 },
		"negative sample":  func(r *wire.RolloutCreate) { r.MinSample = -1 },
	} {
		req := sensorRollout("100%")
		edit(&req)
		if code, b := c.call("POST", wire.PathAdminRollouts, c.apiKey, req); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, b)
		}
	}
	var list []wire.Rollout
	if c.admin("GET", wire.PathAdminRollouts, nil, &list); len(list) != 0 {
		t.Errorf("refused requests made rollouts: %+v", list)
	}
}

// TestUpdateDownloadCapHoldsBackPastIt pins the bounded load: with a cap
// of 2, a third device of the wave gets 204 with Retry-After until one of
// the two downloading moves past downloading.
func TestUpdateDownloadCapHoldsBackPastIt(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, func(cfg *Config) { cfg.MaxUpdateDownloads = 2 })
	ms := c.sensors(3)
	r := c.createRollout(sensorRollout("100%"))
	c.mustFetch(ms[0], r.ID)
	c.mustFetch(ms[1], r.ID)
	c.report(ms[1], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateDownloading, Progress: 10})
	code, _, h := c.getUpdate(ms[2])
	if code != http.StatusNoContent || h.Get("Retry-After") == "" {
		t.Fatalf("a third download over a cap of 2: %d, Retry-After %q; want 204 with Retry-After", code, h.Get("Retry-After"))
	}
	if code := c.report(ms[0], ok(wire.UpdateVerifying, r.Target, r.ID)); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	c.mustFetch(ms[2], r.ID)
}

// swapHandler serves whichever handler was set last, so that a test can
// put a restarted coordinator behind the same address.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// restart closes c's coordinator and starts it again on the same data
// and address, as after a crash and restart: only the store survives.
func (c *testCoord) restart(sw *swapHandler) {
	c.t.Helper()
	cfg := c.srv.cfg
	c.srv.cancel()
	c.http.CloseClientConnections()
	if err := c.srv.Close(); err != nil {
		c.t.Fatal(err)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { srv.Close() })
	mountUI(c.t, srv)
	h := srv.Handler()
	sw.h.Store(&h)
	c.srv = srv
}

// TestRolloutSurvivesCoordinatorRestart restarts the coordinator twice
// mid-rollout, on SQLite and on PostgreSQL: the rollout, its current
// wave, when its success gate was met (the soak goes on from then, not
// from the restart) and every device's state come back, and the rollout
// finishes.
func TestRolloutSurvivesCoordinatorRestart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { rolloutAcrossRestarts(t, "") })
	t.Run("postgres", func(t *testing.T) { rolloutAcrossRestarts(t, pgtest.NewDB(t)) })
}

// rolloutAcrossRestarts is TestRolloutSurvivesCoordinatorRestart on the
// database db ("": SQLite).
func rolloutAcrossRestarts(t *testing.T, db string) {
	clk := newFakeClock()
	sw := &swapHandler{}
	c := startCoordWrapped(t, testPolicy, func(cfg *Config) { cfg.Clock, cfg.RolloutEvery, cfg.DB = clk.now, 20*time.Millisecond, db },
		func(h http.Handler) http.Handler { sw.h.Store(&h); return sw })
	ms := c.sensors(3)
	r := c.createRollout(sensorRollout("1", "100%"))
	c.mustFetch(ms[0], r.ID)
	c.report(ms[0], ok(wire.UpdateHealthy, r.Target, r.ID))
	clk.add(6 * time.Minute) // the gate was met 6 of the soak's 10 minutes ago
	c.restart(sw)
	for _, m := range ms {
		c.session(m)
	}
	got := c.showRollout(r.ID)
	if got.Status != "running" || got.Wave != 0 || got.Progress[0].Devices[0].State != wire.UpdateHealthy || got.Progress[1].Devices[0].State != "pending" {
		t.Fatalf("after restart: %+v", got)
	}
	clk.add(5 * time.Minute) // 11 minutes since the gate held
	c.waitRollout(r.ID, "at wave 2", func(r wire.Rollout) bool { return r.Wave == 1 })
	c.mustFetch(ms[1], r.ID)
	c.report(ms[1], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateDownloading, Progress: 70})
	c.restart(sw)
	for _, m := range ms {
		c.session(m)
	}
	if d := c.showRollout(r.ID).Progress[1].Devices[0]; d.State != wire.UpdateDownloading {
		t.Fatalf("a downloading device after restart: %+v", d)
	}
	c.mustFetch(ms[1], r.ID) // it asks again after its own restart: same assignment
	c.mustFetch(ms[2], r.ID)
	for _, m := range ms[1:] {
		if code := c.report(m, ok(wire.UpdateHealthy, r.Target, r.ID)); code != http.StatusNoContent {
			t.Fatalf("report: %d", code)
		}
	}
	clk.add(11 * time.Minute)
	c.waitRollout(r.ID, "done", func(r wire.Rollout) bool { return r.Status == "done" })
}

// TestRolloutPageActsWithCSRF pins the UI's rollout pages: the list and
// a rollout's progress per wave show, and its pause, resume and abort
// buttons act only with the session's CSRF token.
func TestRolloutPageActsWithCSRF(t *testing.T) {
	clk := newFakeClock()
	c := startCoordListening(t, func(cfg *Config) { cfg.Clock, cfg.RolloutEvery = clk.now, 20*time.Millisecond })
	ms := c.sensors(2)
	r := c.createRollout(sensorRollout("1", "100%"))
	c.mustFetch(ms[0], r.ID)
	b, _ := c.uiLogin(carol)
	ctx := t.Context()
	list, err := b.Open(ctx, c.http.URL+"/ui/rollouts")
	if err != nil || !strings.Contains(list.Body, r.Target) {
		t.Fatalf("list page: %v", err)
	}
	page := fmt.Sprintf("/ui/rollouts/%d", r.ID)
	p, err := b.Open(ctx, c.http.URL+page)
	if err != nil || !strings.Contains(p.Body, `id="wave-2"`) || !strings.Contains(p.Body, "s1: sent") || !strings.Contains(p.Body, "s2: pending") {
		t.Fatalf("rollout page: %v\n%s", err, p.Body)
	}
	resp, err := b.Client.PostForm(c.http.URL+page+"/pause", nil) // no CSRF token
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || c.showRollout(r.ID).Status != "running" {
		t.Fatalf("a pause without the CSRF token: %d, status %s", resp.StatusCode, c.showRollout(r.ID).Status)
	}
	for _, step := range []struct{ action, want, flash string }{
		{"pause", "paused", "The rollout is paused."},
		{"resume", "running", "The rollout runs again."},
		{"abort", "aborted", "The rollout is aborted."},
	} {
		p, err = b.SubmitForm(ctx, p, page+"/"+step.action, nil)
		if err != nil || !strings.Contains(p.Body, step.flash) {
			t.Fatalf("%s: %v", step.action, err)
		}
		if got := c.showRollout(r.ID).Status; got != step.want {
			t.Fatalf("after %s: %s, want %s", step.action, got, step.want)
		}
	}
	if a := c.auditActors("rollout.pause"); len(a) != 1 || a[0] != "user:carol@example.com" {
		t.Errorf("the UI's pause audited as %v", a)
	}
}

// TestRolloutStragglerOfEarlierWaveTimesOut: a wave may end on its
// success gate while one of its devices is still downloading; once the
// rollout moved on, that device still times out as failed, so it does
// not hold a download slot, or show as in progress, forever.
func TestRolloutStragglerOfEarlierWaveTimesOut(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	ms := c.sensors(3)
	req := sensorRollout("2", "100%")
	req.SuccessGate, req.SoakMillis, req.TimeoutMillis = "1", 0, (10 * time.Minute).Milliseconds()
	r := c.createRollout(req)
	c.mustFetch(ms[0], r.ID)
	c.mustFetch(ms[1], r.ID)
	c.report(ms[1], wire.UpdateReport{Rollout: r.ID, Target: r.Target, State: wire.UpdateDownloading, Progress: 5})
	if code := c.report(ms[0], ok(wire.UpdateHealthy, r.Target, r.ID)); code != http.StatusNoContent {
		t.Fatalf("report: %d", code)
	}
	c.waitRollout(r.ID, "at wave 2", func(r wire.Rollout) bool { return r.Wave == 1 })
	clk.add(11 * time.Minute)
	got := c.waitRollout(r.ID, "with the straggler failed", func(r wire.Rollout) bool { return r.Progress[0].Devices[1].State == wire.UpdateFailed })
	if d := got.Progress[0].Devices[1]; !strings.Contains(d.Reason, "timed out") {
		t.Errorf("straggler: %+v", d)
	}
}

// TestRolloutActionsNeedFleetPermission: an auditor's session reads
// rollouts but may neither create nor pause, resume or abort one.
func TestRolloutActionsNeedFleetPermission(t *testing.T) {
	clk := newFakeClock()
	c := startCoordListening(t, func(cfg *Config) {
		cfg.Clock, cfg.AdminRoles = clk.now, map[string]admin.Role{"bob@example.com": admin.RoleAuditor}
	})
	c.sensors(1)
	r := c.createRollout(sensorRollout("100%"))
	role, b, p := c.uiRole(bob)
	if role != "auditor" {
		t.Fatalf("bob's role = %q, want auditor", role)
	}
	var list []wire.Rollout
	if code := c.uiAPI(b, p, "GET", wire.PathAdminRollouts, nil, &list); code != http.StatusOK || len(list) != 1 {
		t.Errorf("an auditor lists rollouts: %d %+v", code, list)
	}
	if code := c.uiAPI(b, p, "POST", wire.PathAdminRollouts, sensorRollout("100%"), nil); code != http.StatusForbidden {
		t.Errorf("an auditor creates a rollout: %d, want 403", code)
	}
	for _, a := range []string{"pause", "abort"} {
		if code := c.uiAPI(b, p, "POST", fmt.Sprintf("%s/%d/%s", wire.PathAdminRollouts, r.ID, a), nil, nil); code != http.StatusForbidden {
			t.Errorf("an auditor's %s: %d, want 403", a, code)
		}
	}
	if got := c.showRollout(r.ID); got.Status != "running" {
		t.Errorf("after the auditor's attempts: %s", got.Status)
	}
}
