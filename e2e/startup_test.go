package e2e

import (
	"testing"
	"time"
)

// A device that joins a running fleet is reachable at once: the time from
// starting its agent to the first byte echoed through the overlay.
func TestJoiningDeviceReachableQuickly(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, fleetPolicy(ssh), nil)
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "operator connected", func() bool { return op.Status().Connected })
	key := f.authKey("tag:camera")
	start := time.Now()
	f.startAgent("cam1", key, "", agentOpts{expose: []uint16{ssh}})
	d := waitFor(t, "first byte to the new camera", func() bool { return op.hasPeer("cam1") && op.roundTrip("cam1", ssh) == nil })
	t.Logf("from starting the camera's agent to the first echoed byte: %v (since start: %v)", d, time.Since(start))
}

// A device restarted while the coordinator is down starts its data plane
// from the map it kept: the operator reaches it again before the
// coordinator returns, and it resumes its map stream afterwards.
func TestDeviceRestartedWhileCoordinatorDown(t *testing.T) {
	f, op, cam, _, ssh, other := camFleet(t, nil, agentOpts{})
	waitFor(t, "granted flow", func() bool { return op.roundTrip("cam1", ssh) == nil })
	waitFor(t, "camera's map has the operator's endpoint", func() bool {
		_, p, err := cam.Engine().Resolve("op1")
		return err == nil && len(p.Endpoints) > 0
	})
	cam.Stop()
	f.Stop()
	// A real restart takes longer than this. WireGuard timestamps
	// initiations to 2^24 ns: a peer drops an initiation stamped like the
	// last one it took from the same key as a replay, until the 5 s retry.
	time.Sleep(50 * time.Millisecond)
	cam = f.startAgent("cam1", "", cam.Dir, agentOpts{expose: []uint16{ssh, other}})
	d := waitFor(t, "operator reaches the restarted camera", func() bool { return op.roundTrip("cam1", ssh) == nil })
	t.Logf("from restarting the camera's agent (coordinator down) to the first echoed byte: %v", d)
	if cam.Status().Connected {
		t.Error("camera connected to a stopped coordinator")
	}
	f.Start()
	waitFor(t, "camera's map stream resumes", func() bool { return cam.Status().Connected })
	if err := op.roundTrip("cam1", ssh); err != nil {
		t.Errorf("flow after the coordinator returned: %v", err)
	}
}
