package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
)

// skewed is a node clock off by d from the machine's (and so from the
// coordinator's): negative is behind.
func skewed(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// clockFleet starts a coordinator, a camera with camOpts and an operator
// with opOpts (the operator may reach the camera's ssh port), and waits
// for a first echo from the operator to the camera.
func clockFleet(t *testing.T, tweak func(*assembly.Config), camOpts, opOpts agentOpts) (f *fleet, cam, op *agent, ssh uint16) {
	t.Helper()
	ssh = echoServer(t)
	f = newFleet(t, fleetPolicy(ssh), tweak)
	camOpts.expose = []uint16{ssh}
	cam = f.startAgent("cam1", f.authKey("tag:camera"), "", camOpts)
	op = f.startAgent("op1", f.authKey("tag:operator"), "", opOpts)
	waitFor(t, "first echo operator -> camera", func() bool { return op.roundTrip("cam1", ssh) == nil })
	return f, cam, op, ssh
}

// rotationsAnnounced counts the rotations ag announced so far, from its
// logs.
func (f *fleet) rotationsAnnounced(ag *agent) int {
	n := 0
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, "who="+ag.name) && strings.Contains(line, "wireguard key rotation announced") {
			n++
		}
	}
	return n
}

// TestRotationWithNodeClockBehind pins medium item 5 for a node whose
// clock is an hour behind the coordinator's: the coordinator's switch
// time, compared with the node's clock, made the node keep its old key
// for an hour after every rotation while its peers already had the new
// one, so nothing reached it. It must switch when the coordinator said,
// and its peers keep reaching it across rotations.
func TestRotationWithNodeClockBehind(t *testing.T) {
	_, cam, op, ssh := clockFleet(t, nil, agentOpts{rotateEvery: 700 * time.Millisecond, clock: skewed(-time.Hour)}, agentOpts{})
	last := cam.Engine().PublicKey()
	for i := range 3 {
		waitFor(t, "the camera switches to its next key", func() bool { return cam.Engine().PublicKey() != last })
		last = cam.Engine().PublicKey()
		waitFor(t, "the operator reaches the camera after the rotation", func() bool {
			// The camera may rotate again meanwhile (every 0.7 s, up to the
			// coordinator's burst of five): the operator must reach it on
			// the key it holds now, not on one it has already left.
			cur := cam.Engine().PublicKey()
			if _, p, err := op.Engine().Resolve("cam1"); err != nil || p.WGKey != cur {
				return false // the operator has not got the new key yet
			}
			return op.roundTrip("cam1", ssh) == nil
		})
		last = cam.Engine().PublicKey()
		t.Logf("rotation %d: operator reaches the camera on its new key", i+1)
	}
	now := time.Now().Add(-time.Hour) // the camera's clock
	if exp := cam.Status().Self.KeyExpiry; !exp.After(now.Add(23 * time.Hour)) {
		t.Errorf("camera's key expires at %v by its clock (now %v), want about a day later", exp, now)
	}
}

// TestRotationWithNodeClockAhead pins medium item 5 for a node whose
// clock is ahead of the coordinator's by more than its rotation interval
// (and more than a key's life): the coordinator's switch time, stored as
// the new key's creation, made every key look due at once, and the node
// rotated in a loop, many times a second; and its peers' keys looked
// expired. It must rotate once per interval, and keep its peers.
func TestRotationWithNodeClockAhead(t *testing.T) {
	const every = time.Second
	f, cam, op, ssh := clockFleet(t, nil, agentOpts{rotateEvery: every, clock: skewed(25 * time.Hour)}, agentOpts{})
	start, before := time.Now(), f.rotationsAnnounced(cam)
	time.Sleep(4 * every)
	n, elapsed := f.rotationsAnnounced(cam)-before, time.Since(start)
	if limit := int(elapsed/every) + 2; n > limit {
		t.Errorf("%d rotations in %v with one due every %v: rotating in a loop (want at most %d)", n, elapsed.Round(time.Millisecond), every, limit)
	}
	waitFor(t, "a rotation", func() bool { return f.rotationsAnnounced(cam) > before })
	if !cam.hasPeer("op1") {
		t.Error("the camera dropped the operator: its key looks expired on the camera's clock")
	}
	waitFor(t, "the operator reaches the camera", func() bool { return op.roundTrip("cam1", ssh) == nil })
	t.Logf("%d rotations in %v", n, elapsed.Round(time.Millisecond))
}

// TestPeerExpiryWithNodeClockBehind pins medium item 5's peer expiry
// enforcement: a node whose clock is an hour behind drops a peer whose
// key expired, while the coordinator is down, when it expires, not an
// hour later.
func TestPeerExpiryWithNodeClockBehind(t *testing.T) {
	lifetime := 3 * time.Second
	f, _, op, ssh := clockFleet(t, func(c *assembly.Config) { c.KeyLifetime = lifetime }, agentOpts{},
		agentOpts{clock: skewed(-time.Hour)})
	f.Stop()
	d := waitFor(t, "camera's expired key dropped by the operator", func() bool { return !op.hasPeer("cam1") })
	t.Logf("peer dropped %v after the coordinator stopped (key lifetime %v)", d, lifetime)
	if err := op.roundTrip("cam1", ssh); err == nil {
		t.Fatal("operator still reaches a camera whose key expired")
	}
}
