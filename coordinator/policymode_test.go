package coordinator

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// adminPolicy is a policy an admin saves through the API, which the file
// does not have.
const adminPolicy = `{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22,80"]}],
}`

// coordDir is a data directory and policy file that outlive one
// coordinator, for restarts.
type coordDir struct {
	t          *testing.T
	data, file string
	logs       *logBuffer
	// tweak, when set, changes each start's configuration.
	tweak func(*Config)
}

func newCoordDir(t *testing.T, policy string) *coordDir {
	d := &coordDir{t: t, data: filepath.Join(t.TempDir(), "data"), file: filepath.Join(t.TempDir(), "policy.hujson")}
	d.writeFile(policy)
	return d
}

func (d *coordDir) writeFile(policy string) {
	d.t.Helper()
	if err := os.WriteFile(d.file, []byte(policy), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// start runs a coordinator on d with mode; stop it before the next start.
func (d *coordDir) start(mode string) *testCoord {
	d.t.Helper()
	d.logs = &logBuffer{}
	cfg := Config{DataDir: d.data, Listen: "127.0.0.1:0", Dev: true, KeepAlive: time.Hour,
		PolicyFile: d.file, PolicyMode: mode, Logger: slog.New(slog.NewTextHandler(d.logs, nil))}
	if d.tweak != nil {
		d.tweak(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		d.t.Fatalf("start: %v\n%s", err, d.logs.String())
	}
	mountUI(d.t, srv)
	hs := httptest.NewServer(srv.Handler())
	c := &testCoord{t: d.t, srv: srv, http: hs}
	d.t.Cleanup(c.stop)
	key, err := os.ReadFile(filepath.Join(d.data, BootstrapKeyFile))
	if err != nil {
		d.t.Fatal(err)
	}
	c.apiKey = strings.TrimSpace(string(key))
	return c
}

// stop ends c as a restart would.
func (c *testCoord) stop() {
	c.srv.cancel()
	c.http.CloseClientConnections()
	c.http.Close()
	c.srv.Close()
}

// running returns the text of the running policy, from the API and from
// what the netmap compiled.
func (c *testCoord) running() string {
	c.t.Helper()
	var v wire.PolicyVersion
	if code := c.admin("GET", wire.PathAdminPolicy, nil, &v); code != http.StatusOK {
		c.t.Fatalf("get policy: %d", code)
	}
	return v.Text
}

// savePolicy saves text through the admin API as an admin would.
func (c *testCoord) savePolicy(text string) {
	c.t.Helper()
	code, body := c.call("PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: text, Comment: "admin edit", ParentID: -1})
	if code != http.StatusOK {
		c.t.Fatalf("save policy: %d %s", code, body)
	}
}

// camPorts returns the ports the compiled, running policy opens on node
// cam, as the admin API lists them.
func (c *testCoord) camPorts() string {
	c.t.Helper()
	var gs []struct{ Ports string }
	if code := c.admin("GET", wire.PathAdminNodes+"/cam/access", nil, &gs); code != http.StatusOK {
		c.t.Fatalf("node access: %d", code)
	}
	var ports []string
	for _, g := range gs {
		ports = append(ports, g.Ports)
	}
	return strings.Join(ports, ",")
}

// TestRestartKeepsAdminPolicyEdits: an admin saves a policy through the
// API; a restart with the old --policy file keeps the admin's policy in
// force, and says that the file differs.
func TestRestartKeepsAdminPolicyEdits(t *testing.T) {
	d := newCoordDir(t, testPolicy)
	c := d.start("")
	if c.running() != testPolicy {
		t.Fatalf("first start did not seed the store from the file: %q", c.running())
	}
	c.mustRegister([]string{"tag:camera"}, "cam")
	c.mustRegister([]string{"tag:operator"}, "op")
	c.savePolicy(adminPolicy)
	c.stop()

	c = d.start("")
	if got := c.running(); got != adminPolicy {
		t.Fatalf("after a restart with the old file the policy is\n%s\nwant the admin's\n%s", got, adminPolicy)
	}
	if ports := c.camPorts(); !strings.Contains(ports, "80") {
		t.Errorf("the compiled policy opens %q on the camera, want the admin's port 80 too", ports)
	}
	if !strings.Contains(d.logs.String(), "level=WARN") || !strings.Contains(d.logs.String(), "differs from the stored policy") {
		t.Errorf("no warning that the file differs:\n%s", d.logs.String())
	}
	var vs []wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicyVersions, nil, &vs)
	if len(vs) != 2 {
		t.Errorf("versions after the restart: %+v, want the seed and the admin's edit only", vs)
	}
}

// TestInvalidPolicyFileDoesNotStopStart: once the store holds a policy, an
// invalid --policy file is a warning, not a failed start.
func TestInvalidPolicyFileDoesNotStopStart(t *testing.T) {
	d := newCoordDir(t, testPolicy)
	c := d.start("")
	c.savePolicy(adminPolicy)
	c.stop()

	d.writeFile(`{"acls": [{"action": "accept", "src": ["tag:ghost"], "dst": ["tag:camera:22"]}]}`)
	c = d.start("") // startCoordWith fails the test if New fails
	if got := c.running(); got != adminPolicy {
		t.Fatalf("policy after starting with an invalid file:\n%s\nwant the stored one", got)
	}
	if !strings.Contains(d.logs.String(), "level=WARN") || !strings.Contains(d.logs.String(), "invalid") {
		t.Errorf("no warning about the invalid file:\n%s", d.logs.String())
	}
	c.stop()

	os.Remove(d.file)
	c = d.start("")
	if got := c.running(); got != adminPolicy {
		t.Fatalf("policy after starting with a missing file:\n%s\nwant the stored one", got)
	}
}

// TestPolicyModeFileWins: with --policy-mode=file the file replaces the
// stored policy at every start, and the log says so each time.
func TestPolicyModeFileWins(t *testing.T) {
	d := newCoordDir(t, testPolicy)
	c := d.start(PolicyModeFile)
	c.mustRegister([]string{"tag:camera"}, "cam")
	c.mustRegister([]string{"tag:operator"}, "op")
	c.savePolicy(adminPolicy)
	c.stop()

	c = d.start(PolicyModeFile)
	if got := c.running(); got != testPolicy {
		t.Fatalf("policy mode file: running\n%s\nwant the file's\n%s", got, testPolicy)
	}
	if ports := c.camPorts(); !strings.Contains(ports, "22") || strings.Contains(ports, "80") {
		t.Errorf("the compiled policy opens %q on the camera, want the file's port 22 only", ports)
	}
	if !strings.Contains(d.logs.String(), "policy mode file") {
		t.Errorf("the start does not say the file wins:\n%s", d.logs.String())
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=policy.set", nil, &evs)
	if n := len(evs); n == 0 || !strings.HasPrefix(evs[n-1].Actor, "file:") {
		t.Errorf("the file's win is not audited: %+v", evs)
	}
	c.stop()

	c = d.start(PolicyModeFile) // unchanged file: still said
	if !strings.Contains(d.logs.String(), "policy mode file") {
		t.Errorf("a start with an unchanged file does not say the file wins:\n%s", d.logs.String())
	}
	c.stop()

	d.writeFile(`{"acls": [{"action": "accept", "src": ["tag:ghost"], "dst": ["tag:camera:22"]}]}`)
	if _, err := New(t.Context(), Config{DataDir: d.data, Listen: "127.0.0.1:0", Dev: true, PolicyFile: d.file, PolicyMode: PolicyModeFile}); err == nil {
		t.Fatal("policy mode file started with an invalid file")
	}
}
