package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// denyFleetPolicy lets operators reach the cameras on every TCP port and,
// with deny, refuses them port blocked.
func denyFleetPolicy(blocked uint16, deny bool) string {
	rule := ""
	if deny {
		rule = fmt.Sprintf(`{"action": "deny", "src": ["tag:operator"], "dst": ["tag:camera:%d"]},`, blocked)
	}
	return fmt.Sprintf(`{
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:*"], "proto": "tcp"},
    %s
  ],
}`, rule)
}

// TestDenyRuleOverridesBroaderAccept pins issue 17's deny rules through
// real nodes: under an accept of every port, adding a deny of one port
// cuts a connection already open on it, refuses new ones (the operator's
// node and, for a modified client that ignores its map, the camera's own
// filter, which answers a SYN to the denied port with nothing), leaves
// the other ports open, and `ward acl explain` names the deny.
func TestDenyRuleOverridesBroaderAccept(t *testing.T) {
	open, blocked := echoServer(t), echoServer(t)
	f := newFleet(t, denyFleetPolicy(blocked, false), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{open, blocked}})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "the operator reaches the soon-denied port", func() bool { return op.roundTrip("cam1", blocked) == nil })
	live, err := op.dial("cam1", blocked)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := echo(live, "before the deny"); err != nil {
		t.Fatal(err)
	}

	setPolicy(t, f, denyFleetPolicy(blocked, true))
	waitFor(t, "the deny cuts the open connection", func() bool { return echoWithin(live, "after the deny", 300*time.Millisecond) != nil })
	waitFor(t, "the operator's node refuses the denied port", func() bool {
		return errors.Is(op.roundTrip("cam1", blocked), node.ErrNotGranted)
	})
	if err := op.roundTrip("cam1", open); err != nil {
		t.Errorf("the port the deny leaves open: %v", err)
	}

	// Past the operator's own node: the camera's filter refuses the SYN.
	rogue := f.attackAs(t, op, "cam1")
	waitFor(t, "the camera answers a SYN to the open port", func() bool {
		rogue.SYN(open)
		flags, ok := rogue.Answer(open, time.Second)
		return ok && flags&nodetest.TCPRST == 0 // a SYN-ACK
	})
	for range 3 {
		rogue.SYN(blocked)
	}
	if flags, ok := rogue.Answer(blocked, 2*time.Second); ok {
		t.Errorf("a SYN to the denied port got an answer (flags %#x); want nothing", flags)
	}

	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(denyFleetPolicy(blocked, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "acl", "explain", pf, "--src", "tag:operator", "--dst", fmt.Sprintf("tag:camera:%d", blocked)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "deny: denied by the deny rule at 5:5") {
		t.Errorf("ward acl explain: %v\n%s\nwant the deny rule at 5:5 named", err, out)
	}
}

// setPolicy replaces the running policy.
func setPolicy(t *testing.T, f *fleet, text string) {
	t.Helper()
	if code, body := f.Admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d %s", code, body)
	}
}
