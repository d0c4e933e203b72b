package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/wire"
)

// fleetPolicy grants tag:operator one port of tag:camera. ssh stands for
// port 22 and other for port 23: real services on the test machine may
// hold those, so the test uses free ports in their roles.
func fleetPolicy(ssh uint16) string {
	return fmt.Sprintf(`{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:%d"]}],
}`, ssh)
}

// camFleet starts a coordinator, an operator, a camera exposing two echo
// services and a sensor exposing one.
func camFleet(t *testing.T, tweak func(*assembly.Config), camOpts agentOpts) (f *fleet, op, cam, sensor *agent, ssh, other uint16) {
	ssh, other = echoServer(t), echoServer(t)
	f = newFleet(t, fleetPolicy(ssh), tweak)
	camOpts.expose = []uint16{ssh, other}
	cam = f.startAgent("cam1", f.authKey("tag:camera"), "", camOpts)
	sensor = f.startAgent("sensor1", f.authKey("tag:sensor"), "", agentOpts{expose: []uint16{ssh}})
	op = f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "operator sees the camera", func() bool { return op.hasPeer("cam1") })
	return f, op, cam, sensor, ssh, other
}

func TestOperatorReachesOnlyGrantedPort(t *testing.T) {
	start := time.Now()
	f, op, _, _, ssh, other := camFleet(t, nil, agentOpts{})
	var first time.Duration
	waitFor(t, "first byte operator -> camera", func() bool {
		if op.roundTrip("cam1", ssh) == nil {
			first = time.Since(start)
			return true
		}
		return false
	})
	t.Logf("from starting three nodes to the first echoed byte: %v", first)

	if err := op.roundTrip("cam1", other); !errors.Is(err, node.ErrNotGranted) {
		t.Errorf("operator's try on the camera's ungranted port: %v; want it refused as not granted", err)
	}
	if op.hasPeer("sensor1") {
		t.Error("operator sees the sensor, which no rule connects it to")
	}
	// The sensor is not even a peer, and the operator refuses the
	// ungranted port itself, so nothing leaves it. A modified operator
	// with the same key sends anyway: the camera's filter refuses the
	// port and reports it.
	rogue := f.attackAs(t, op, "cam1")
	var evs []wire.AuditEvent
	waitFor(t, "denied flow in the audit log", func() bool {
		rogue.SYN(other)
		f.Admin("GET", wire.PathAdminAudit+"?action=flow.denied", nil, &evs)
		for _, e := range evs {
			who, _ := e.Detail.(map[string]any)["src_identity"].(string)
			if e.Actor == "node:cam1" && strings.HasPrefix(who, "node:op1") && strings.Contains(who, "tag:operator") &&
				strings.Contains(e.Target, fmt.Sprintf("port %d", other)) {
				return true
			}
		}
		return false
	})
}

func TestPolicyChangeAndRemovalCutAccess(t *testing.T) {
	f, op, _, _, ssh, _ := camFleet(t, nil, agentOpts{})
	waitFor(t, "granted flow", func() bool { return op.roundTrip("cam1", ssh) == nil })

	// Move the grant to another port: new connections to ssh fail.
	start := time.Now()
	code, body := f.Admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: fleetPolicy(ssh + 1), ParentID: -1}, nil)
	if code != 200 {
		t.Fatalf("set policy: %d %s", code, body)
	}
	cut := waitFor(t, "policy change cuts new connections", func() bool { return op.roundTrip("cam1", ssh) != nil })
	t.Logf("policy change to refused connection: %v (+ one dial timeout of 700ms at most)", cut)
	_ = start

	// Restore, then remove the operator: the camera drops it.
	f.Admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: fleetPolicy(ssh), ParentID: -1}, nil)
	waitFor(t, "grant restored", func() bool { return op.roundTrip("cam1", ssh) == nil })
	if code, body := f.Admin("DELETE", wire.PathAdminNodes+"/op1", nil, nil); code != 204 {
		t.Fatalf("remove: %d %s", code, body)
	}
	waitFor(t, "removed node is cut", func() bool { return op.roundTrip("cam1", ssh) != nil })
}

func TestAuthKeysAreEnforcedEndToEnd(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, fleetPolicy(ssh), nil)
	key := f.authKey("tag:camera")
	a := f.startAgent("cam1", key, "", agentOpts{})
	waitFor(t, "registered", func() bool { return a.Engine().Self().Name == "cam1" })
	b := f.startAgent("cam2", key, "", agentOpts{})
	select {
	case <-b.Done():
		if err := b.Stop(); err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("second registration with a single-use key: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("second registration with a single-use key did not fail")
	}
	var k wire.AuthKey
	f.Admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Expiry: "1ms"}, &k)
	f.secrets = append(f.secrets, k.Key)
	time.Sleep(10 * time.Millisecond)
	c := f.startAgent("cam3", k.Key, "", agentOpts{})
	select {
	case <-c.Done():
		if err := c.Stop(); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired key: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("registration with an expired key did not fail")
	}
}
