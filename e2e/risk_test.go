package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/coordinator"
)

// TestRiskClassMovesDeviceUnderPolicy pins issue 17's device classes end
// to end: `ward admin nodes classify` makes a camera critical, and the
// policy's deny of risk:critical cuts the operator off it in the data
// plane; the inventory lists it under its class; unclassifying it lets the
// operator back in; a pre-auth key carries a class.
func TestRiskClassMovesDeviceUnderPolicy(t *testing.T) {
	svc := echoServer(t)
	f := newFleet(t, `{
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:*"], "proto": "tcp"},
    {"action": "deny", "src": ["tag:operator"], "dst": ["risk:critical:*"]},
  ],
}`, nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{svc}})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "the operator reaches the standard camera", func() bool { return op.roundTrip("cam1", svc) == nil })

	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ward := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary(t), append([]string{"admin", "--coordinator", f.url(), "--api-key-file", keyFile}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ward admin %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := ward("nodes", "classify", "cam1", "critical"); !strings.Contains(out, "risk class: critical") {
		t.Errorf("classify printed:\n%s", out)
	}
	waitFor(t, "the deny of critical devices cuts the operator off", func() bool { return op.roundTrip("cam1", svc) != nil })
	if out := ward("nodes", "list", "--risk", "critical"); !strings.Contains(out, "cam1") || strings.Contains(out, "op1") {
		t.Errorf("nodes list --risk critical:\n%s", out)
	}
	ward("nodes", "classify", "cam1")
	waitFor(t, "the unclassified camera is reachable again", func() bool { return op.roundTrip("cam1", svc) == nil })
	if out := ward("keys", "create", "--tags", "tag:camera", "--risk", "critical"); !strings.Contains(out, "risk=critical") {
		t.Errorf("keys create --risk printed:\n%s", out)
	}
}
