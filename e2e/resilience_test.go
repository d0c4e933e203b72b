package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
)

// An established flow keeps working while the coordinator is down and after
// it restarts; the nodes resume their map streams.
func TestFlowSurvivesCoordinatorRestart(t *testing.T) {
	f, op, _, _, ssh, _ := camFleet(t, nil, agentOpts{})
	var nc net.Conn
	waitFor(t, "granted flow", func() bool {
		c, err := op.dial("cam1", ssh)
		if err != nil {
			return false
		}
		if echo(c, "before") != nil {
			c.Close()
			return false
		}
		nc = c
		return true
	})
	defer nc.Close()

	f.Stop()
	for i := range 5 {
		if err := echo(nc, "while down"); err != nil {
			t.Fatalf("established flow broke while the coordinator is down (round %d): %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := op.roundTrip("cam1", ssh); err != nil {
		t.Errorf("new flow while the coordinator is down: %v", err)
	}
	f.Start()
	waitFor(t, "operator's map stream resumes", func() bool { return op.Status().Connected })
	if err := echo(nc, "after restart"); err != nil {
		t.Fatalf("established flow broke across the restart: %v", err)
	}
}

// A peer whose key expires is dropped by the other nodes even while the
// coordinator is down.
func TestKeyExpiryHonouredWithoutCoordinator(t *testing.T) {
	lifetime := 3 * time.Second
	f, op, _, _, ssh, _ := camFleet(t, func(c *assembly.Config) { c.KeyLifetime = lifetime }, agentOpts{})
	waitFor(t, "granted flow", func() bool { return op.roundTrip("cam1", ssh) == nil })
	f.Stop()
	d := waitFor(t, "camera's expired key dropped by the operator", func() bool { return !op.hasPeer("cam1") })
	t.Logf("peer dropped %v after the coordinator stopped (key lifetime %v)", d, lifetime)
	if err := op.roundTrip("cam1", ssh); err == nil {
		t.Fatal("operator still reaches a camera whose key expired")
	}
}

// Rotating the camera's WireGuard key does not break a running flow.
//
// The camera rotates every 3 s. A flow stalls about 1.4 s at each rotation
// (the peers take the new key when it is announced, 200 ms before the
// camera switches to it, so packets in that window are lost and TCP's
// retransmission and a new handshake bring the flow back); with a rotation
// every 0.7 s the next one came before the flow had recovered, and on a
// quiet machine the flow never did in about half the runs.
func TestKeyRotationUnderRunningFlow(t *testing.T) {
	_, op, cam, _, ssh, _ := camFleet(t, func(c *assembly.Config) { c.RotateBurst = 1000 }, agentOpts{rotateEvery: 3 * time.Second})
	first := cam.Engine().PublicKey()
	var c net.Conn
	waitFor(t, "granted flow", func() bool {
		conn, err := op.dial("cam1", ssh)
		if err != nil {
			return false
		}
		c = conn
		return true
	})
	defer c.Close()
	rotations := 0
	last := first
	var worst time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for rotations < 3 && time.Now().Before(deadline) {
		// The flow must survive; a handshake retry may stall it briefly,
		// so the echo gets a deadline well past WireGuard's 5 s retry.
		began := time.Now()
		if err := echoWithin(c, "during rotation", 12*time.Second); err != nil {
			t.Fatalf("flow broke after %d rotations: %v", rotations, err)
		}
		worst = max(worst, time.Since(began))
		if k := cam.Engine().PublicKey(); k != last {
			rotations++
			last = k
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rotations < 3 {
		t.Fatalf("only %d key rotations happened", rotations)
	}
	t.Logf("flow survived %d rotations; slowest echo %v", rotations, worst)
}
