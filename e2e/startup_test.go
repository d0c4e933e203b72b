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
	waitFor(t, "operator connected", func() bool { return op.a.Status().Connected })
	key := f.authKey("tag:camera")
	start := time.Now()
	f.startAgent("cam1", key, "", agentOpts{expose: []uint16{ssh}})
	d := waitFor(t, "first byte to the new camera", func() bool { return op.hasPeer("cam1") && op.roundTrip("cam1", ssh) == nil })
	t.Logf("from starting the camera's agent to the first echoed byte: %v (since start: %v)", d, time.Since(start))
}
