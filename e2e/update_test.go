package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/wire"
)

// agentTags returns the Makefile's AGENT_TAGS: a device's build, as
// `make agent` makes it.
func agentTags(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":="); ok && strings.TrimSpace(k) == "AGENT_TAGS" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("Makefile: no AGENT_TAGS line")
	return ""
}

// buildVersion builds the device agent reporting version into dir.
func buildVersion(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, "ward-"+version)
	cmd := exec.Command("go", "build", "-tags", agentTags(t), "-ldflags", "-X main.version="+version, "-o", out, "../cmd/ward")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v: %s", version, err, b)
	}
	return out
}

// updateFront stands in front of the coordinator for a node: it serves the
// rollout's two paths (wire.PathUpdate, wire.PathUpdateReport) itself, as
// the coordinator's rollouts will, and passes everything else through.
// While cut, it answers the map stream 503: the coordinator cannot be
// reached for a map.
type updateFront struct {
	srv *httptest.Server
	a   wire.UpdateAssignment

	mu      sync.Mutex // mu guards the following
	reports []wire.UpdateReport
	cut     bool
	// cutOn cuts the map stream from the report of that state on, and
	// uncutOn lifts the cut on a report of that state.
	cutOn, uncutOn wire.UpdateState
	// maps counts the map streams passed through since the last cut.
	maps int
}

func newUpdateFront(t *testing.T, coord string, a wire.UpdateAssignment) *updateFront {
	u, err := url.Parse(coord)
	if err != nil {
		t.Fatal(err)
	}
	f := &updateFront{a: a}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path := r.URL.Path; {
		case f.a.Rollout == 0 && (path == wire.PathUpdate || path == wire.PathUpdateReport):
			proxy.ServeHTTP(w, r) // the coordinator's rollouts answer
		case path == wire.PathUpdate:
			f.assign(w)
		case path == wire.PathUpdateReport:
			f.report(w, r)
		case path == wire.PathMap:
			f.mu.Lock()
			cut := f.cut
			if !cut {
				f.maps++
			}
			f.mu.Unlock()
			if cut {
				http.Error(w, `{"error":"unreachable"}`, http.StatusServiceUnavailable)
				return
			}
			proxy.ServeHTTP(w, r)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// assign answers the assignment until a final report came.
func (f *updateFront) assign(w http.ResponseWriter) {
	f.mu.Lock()
	done := len(f.reports) > 0 && f.reports[len(f.reports)-1].State.Final()
	f.mu.Unlock()
	if done {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(f.a)
}

func (f *updateFront) report(w http.ResponseWriter, r *http.Request) {
	var rep wire.UpdateReport
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.Check() != nil {
		http.Error(w, `{"error":"bad report"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reports = append(f.reports, rep)
	if f.cutOn != "" && rep.State == f.cutOn {
		f.cut = true
	}
	if f.uncutOn != "" && rep.State == f.uncutOn {
		f.cut, f.maps = false, 0
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// final returns the final report, if one came.
func (f *updateFront) final() (wire.UpdateReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.reports {
		if r.State.Final() {
			return r, true
		}
	}
	return wire.UpdateReport{}, false
}

// updateRig is a coordinator with a signed, published Ward 2.0.0 and a
// node process running 1.0.0 from a binary in its own directory.
type updateRig struct {
	fleet      *fleet
	front      *updateFront
	old, next  []byte
	exe, state string
	target     string
	node       *exec.Cmd
	logs       *lockedWriter
}

// newUpdateRig builds 1.0.0 and 2.0.0, signs 2.0.0 offline and publishes
// it with `ward release`, then starts the node (1.0.0) behind the front;
// with rollout false the coordinator's own rollouts assign and hear
// reports.
func newUpdateRig(t *testing.T, window time.Duration, cut, rollout bool) *updateRig {
	t.Helper()
	bins := t.TempDir()
	oldBin, nextBin := buildVersion(t, bins, "1.0.0"), buildVersion(t, bins, "2.0.0")
	r := &updateRig{fleet: newFleet(t, `{"tagOwners": {"tag:camera": []}}`, nil)}
	keys, repo := filepath.Join(t.TempDir(), "keys"), filepath.Join(t.TempDir(), "repo")
	target := "ward/" + runtime.GOOS + "-" + runtime.GOARCH + "/ward-2.0.0"
	wardCmd(t, oldBin, "release", "keygen", "--keys", keys, "--repo", repo)
	wardCmd(t, oldBin, "release", "sign", "--keys", keys, "--repo", repo, "--file", nextBin, "--target", target, "--version", "2.0.0", "--kind", wire.UpdateKindWard)
	wardCmd(t, oldBin, "release", "publish", "--repo", repo, "--coordinator", r.fleet.url(),
		"--api-key-file", filepath.Join(r.fleet.Config.DataDir, coordinator.BootstrapKeyFile))
	a := wire.UpdateAssignment{Rollout: 1, Target: target, Kind: wire.UpdateKindWard, Version: "2.0.0"}
	if rollout {
		a = wire.UpdateAssignment{}
	}
	r.front = newUpdateFront(t, r.fleet.url(), a)
	r.target = target
	if cut {
		r.front.cutOn, r.front.uncutOn = wire.UpdateInstalling, wire.UpdateRolledBack
	}
	r.old, _ = os.ReadFile(oldBin)
	r.next, _ = os.ReadFile(nextBin)
	dir := t.TempDir()
	r.exe, r.state = filepath.Join(dir, "bin", "ward"), filepath.Join(dir, "state")
	os.MkdirAll(filepath.Dir(r.exe), 0o755)
	if err := os.WriteFile(r.exe, r.old, 0o755); err != nil {
		t.Fatal(err)
	}
	r.node = exec.Command(r.exe, "node", "--coordinator", r.front.srv.URL, "--dev-insecure-http", "--state-dir", r.state,
		"--auth-key", r.fleet.authKey("tag:camera"), "--wg-name", "", "--update-root", filepath.Join(repo, "metadata", "1.root.json"),
		"--update-poll", "1s", "--update-health-window", window.String())
	r.logs = &lockedWriter{w: &bytes.Buffer{}}
	r.node.Stdout, r.node.Stderr = r.logs, r.logs
	if err := r.node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.node.Process.Signal(syscall.SIGKILL)
		r.node.Wait()
		if t.Failed() {
			t.Logf("node logs:\n%s", r.logs.String())
		}
	})
	return r
}

// lockedWriter collects the node's two output streams (one writer for
// both, so one lock serializes them) for the test to read while the node
// runs.
type lockedWriter struct {
	mu sync.Mutex // mu guards w
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// String returns what was written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// wardCmd runs the ward binary with args and fails the test on an error.
func wardCmd(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("ward %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// waitFinal waits for the node's final report.
func (r *updateRig) waitFinal(t *testing.T, d time.Duration) wire.UpdateReport {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if rep, ok := r.front.final(); ok {
			return rep
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no final update report within %s; reports %+v", d, r.front.reports)
	return wire.UpdateReport{}
}

// runs reports whether the binary at the node's path is b.
func (r *updateRig) runs(b []byte) bool {
	have, err := os.ReadFile(r.exe)
	return err == nil && bytes.Equal(have, b)
}

// TestWardAgentUpdateRuns signs Ward 2.0.0 offline, publishes it, and
// assigns it to a node running 1.0.0: the node verifies it, swaps it in,
// restarts into it (the same process), re-joins the coordinator and
// reports healthy, running 2.0.0.
func TestWardAgentUpdateRuns(t *testing.T) {
	r := newUpdateRig(t, 60*time.Second, false, false)
	rep := r.waitFinal(t, 90*time.Second)
	if rep.State != wire.UpdateHealthy || rep.Running != "2.0.0" {
		t.Fatalf("final report %+v; want healthy, running 2.0.0", rep)
	}
	if !r.runs(r.next) {
		t.Fatal("the binary at the node's path is not 2.0.0")
	}
	if r.node.ProcessState != nil {
		t.Fatal("the node process ended")
	}
	if !strings.Contains(r.logs.String(), "update: on trial") {
		t.Fatal("the new binary did not run the trial")
	}
}

// TestWardAgentUpdateRollsBack gives Ward 2.0.0 no way to the
// coordinator's map once it is installing: the new binary does not
// re-join within its health window, puts 1.0.0 back and restarts into
// it, which reports rolled_back and re-joins.
func TestWardAgentUpdateRollsBack(t *testing.T) {
	r := newUpdateRig(t, 8*time.Second, true, false)
	rep := r.waitFinal(t, 90*time.Second)
	if rep.State != wire.UpdateRolledBack || rep.Running != "1.0.0" || !strings.Contains(rep.Reason, "health window") {
		t.Fatalf("final report %+v; want rolled_back, running 1.0.0, past the health window", rep)
	}
	if !r.runs(r.old) {
		t.Fatal("the binary at the node's path is not 1.0.0 again")
	}
	waitFor(t, "the restored node re-joins", func() bool {
		r.front.mu.Lock()
		defer r.front.mu.Unlock()
		return r.front.maps > 0
	})
	if r.node.ProcessState != nil {
		t.Fatal("the node process ended")
	}
}

// TestWardAgentUpdateThroughRollout runs the same update through the
// coordinator's own rollout (one wave, the node's tag): the rollout
// assigns it, the node runs 2.0.0 and the rollout records it healthy.
func TestWardAgentUpdateThroughRollout(t *testing.T) {
	r := newUpdateRig(t, 60*time.Second, false, true)
	waitFor(t, "the node joins", func() bool {
		r.front.mu.Lock()
		defer r.front.mu.Unlock()
		return r.front.maps > 0
	})
	var ro wire.Rollout
	req := wire.RolloutCreate{Target: r.target, Kind: wire.UpdateKindWard, Version: "2.0.0", Tags: []string{"tag:camera"},
		Waves: []string{"100%"}, SuccessGate: "100%", FailureGate: "1", MinSample: 1, TimeoutMillis: 120_000}
	if code, body := r.fleet.Admin(http.MethodPost, wire.PathAdminRollouts, req, &ro); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create rollout: %d %s", code, body)
	}
	deadline := time.Now().Add(90 * time.Second)
	var state wire.UpdateState
	for time.Now().Before(deadline) {
		var got wire.Rollout
		r.fleet.Admin(http.MethodGet, fmt.Sprintf("%s/%d", wire.PathAdminRollouts, ro.ID), nil, &got)
		if len(got.Progress) > 0 && len(got.Progress[0].Devices) > 0 {
			if state = got.Progress[0].Devices[0].State; state.Final() {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if state != wire.UpdateHealthy {
		t.Fatalf("the device's state in the rollout: %q, want healthy", state)
	}
	if !r.runs(r.next) {
		t.Fatal("the binary at the node's path is not 2.0.0")
	}
}
