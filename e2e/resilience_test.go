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

// Rotating the camera's WireGuard key does not stall a running flow.
//
// The camera rotates every 0.7 s while an echo runs back and forth. A flow
// used to stall 1.4-1.7 s at each rotation: the peers took the new key
// when it was announced, 200 ms before the camera switched to it, so
// packets and the peers' handshake in that window were lost, and the
// camera handshook only 1.5 s after its switch; with a rotation every
// 0.7 s the flow never recovered in about half the runs. Now the peers
// keep the old key until the switch time and the camera handshakes as it
// switches (node/keyswitch.go): a rotation costs a handshake's round trip,
// and at worst one TCP retransmission. The test counts the echoes slower
// than rotationStall: one is allowed (a loaded machine can pause a
// process that long), each rotation used to cause one.
func TestKeyRotationUnderRunningFlow(t *testing.T) {
	_, op, cam, _, ssh, _ := camFleet(t, func(c *assembly.Config) { c.RotateBurst = 1000 }, agentOpts{rotateEvery: 700 * time.Millisecond})
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
	var stalls []time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for rotations < 5 && time.Now().Before(deadline) {
		// The flow must survive: the echo's deadline is well past
		// WireGuard's 5 s handshake retry.
		began := time.Now()
		if err := echoWithin(c, "during rotation", 12*time.Second); err != nil {
			t.Fatalf("flow broke after %d rotations: %v", rotations, err)
		}
		took := time.Since(began)
		worst = max(worst, took)
		if took > rotationStall {
			stalls = append(stalls, took)
		}
		if k := cam.Engine().PublicKey(); k != last {
			rotations++
			last = k
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rotations < 5 {
		t.Fatalf("only %d key rotations happened", rotations)
	}
	if len(stalls) > 1 {
		t.Fatalf("the flow stalled past %v %d times in %d rotations (%v)", rotationStall, len(stalls), rotations, stalls)
	}
	t.Logf("flow survived %d rotations; slowest echo %v", rotations, worst)
}

// rotationStall is what counts as a stall of the flow at a rotation:
// several times what a rotation costs now on a loaded machine (a
// handshake and at most a TCP retransmission, under 0.3 s), below the
// 1.4 s every rotation used to cost.
const rotationStall = time.Second
