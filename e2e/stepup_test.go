package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// stepUpPolicy lets group:eng reach the cameras' port, and makes critical
// devices need a second factor within window.
func stepUpPolicy(port uint16, window string) string {
	return fmt.Sprintf(`{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [{"name": "critical", "mfaWithin": %q}, "sensitive", "standard"],
  "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["tag:camera:%d"], "proto": "tcp"}],
}`, window, port)
}

// TestCriticalDeviceNeedsRecentSecondFactor pins issue 17's step-up MFA
// through real nodes and the dev IdP: alice, logged in with her one-time
// code, reaches the critical camera; once her second factor is older than
// the class's mfaWithin, the camera refuses her and `ward nc` says the
// connection needs a fresh login with a second factor; a fresh login with
// her one-time code opens it again, without a restart. A standard camera
// under the same grant is not gated.
func TestCriticalDeviceNeedsRecentSecondFactor(t *testing.T) {
	svc := echoServer(t)
	f := newFleet(t, stepUpPolicy(svc, "20s"), nil)
	f.startAgent("cam1", f.criticalKey("tag:camera"), "", agentOpts{expose: []uint16{svc}})
	f.startAgent("cam2", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{svc}})
	l := f.startLaptop(t, "alice-laptop")
	alice := devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}
	if res, _ := l.login(t, alice); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches the critical camera with a fresh second factor", func() bool { return l.socksEcho("cam1", svc) == nil })

	var refused string
	nodetest.Eventually(t, 45*time.Second, "the critical camera refuses alice once her second factor is too old", func() bool {
		refused = l.ncError(t, "cam1", svc)
		return strings.Contains(refused, "needs a fresh login with a second factor") && strings.Contains(refused, "ward up")
	})
	if err := l.socksEcho("cam1", svc); err == nil {
		t.Error("the SOCKS5 proxy still reaches the critical camera after the window")
	}
	if err := l.socksEcho("cam2", svc); err != nil {
		t.Errorf("the standard camera is gated too: %v", err)
	}

	if res, _ := l.login(t, alice); res.Error != "" {
		t.Fatalf("alice's fresh login: %+v", res)
	}
	waitFor(t, "alice reaches the critical camera after a fresh login with a second factor", func() bool { return l.socksEcho("cam1", svc) == nil })
}

// TestStepUpWindowEndsWithCoordinatorStopped pins where the step-up
// window ends: on the critical device's own clock, like a just-in-time
// grant. Alice, logged in with her one-time code, reaches the critical
// camera; with the coordinator stopped, the camera refuses her once her
// second factor is older than the class's mfaWithin, and not before.
func TestStepUpWindowEndsWithCoordinatorStopped(t *testing.T) {
	svc := echoServer(t)
	const window = 25 * time.Second
	f := newFleet(t, stepUpPolicy(svc, window.String()), nil)
	cam := f.startAgent("cam1", f.criticalKey("tag:camera"), "", agentOpts{expose: []uint16{svc}})
	l := f.startLaptop(t, "alice-laptop")
	start := time.Now()
	if res, _ := l.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches the critical camera", func() bool { return l.socksEcho("cam1", svc) == nil })
	// The coordinator's own relay stops with it: both ends must be on the
	// direct path first, or the stop itself cuts a relayed flow.
	waitDirect(t, l, cam, "alice-laptop", "cam1")
	f.Stop()
	var cut error
	nodetest.Eventually(t, 45*time.Second, "the camera refuses alice on its own clock", func() bool {
		cut = l.socksEcho("cam1", svc)
		return cut != nil
	})
	// auth_time has whole seconds: the window may end up to 1 s before
	// start+window.
	if now, end := time.Now(), start.Add(window-time.Second); now.Before(end) {
		t.Errorf("the camera refused alice at %v, before her window's end (%v at the earliest): %v", now, end, cut)
	}
}

// criticalKey mints a pre-auth key for tags whose devices are critical;
// the logs must never show it.
func (f *fleet) criticalKey(tags ...string) string {
	f.t.Helper()
	var k wire.AuthKey
	if code, body := f.Admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: tags, RiskClass: "critical"}, &k); code != 201 {
		f.t.Fatalf("create a critical auth key: %d %s", code, body)
	}
	f.secrets = append(f.secrets, k.Key)
	return k.Key
}

// ncError runs `ward nc` to host:port and returns what it printed on
// failure; empty when it echoed.
func (l *laptop) ncError(t *testing.T, host string, port uint16) string {
	cmd := exec.Command(binary(t), "nc", "--state-dir", l.dir, host, strconv.Itoa(int(port)))
	cmd.Stdin = strings.NewReader("ping\n")
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(ee.Stderr)
	case err != nil:
		return err.Error()
	case string(out) != "ping\n":
		return fmt.Sprintf("nc echoed %q", out)
	}
	return ""
}
