package e2e

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/wire"
)

// deadUDPEndpoint returns a loopback UDP address nothing listens on.
func deadUDPEndpoint(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

// relayedPair starts an operator and a camera (exposing open and closed,
// the policy allowing open) whose announced UDP endpoints both lead
// nowhere: only the coordinator's relay connects them.
// camOpts adds to the camera's options (its exposed ports and endpoints
// are set here).
func relayedPair(t *testing.T, tweak func(*assembly.Config), camOpts agentOpts) (f *fleet, op, cam *agent, open, closed uint16) {
	t.Helper()
	open, closed = echoServer(t), echoServer(t)
	f = newFleet(t, fleetPolicy(open), tweak)
	camOpts.expose, camOpts.endpoints = []uint16{open, closed}, []netip.AddrPort{deadUDPEndpoint(t)}
	cam = f.startAgent("cam", f.authKey("tag:camera"), "", camOpts)
	op = f.startAgent("op", f.authKey("tag:operator"), "", agentOpts{endpoints: []netip.AddrPort{deadUDPEndpoint(t)}})
	return f, op, cam, open, closed
}

// pathTo returns the path ag's status shows to peer.
func pathTo(ag *agent, peer string) string {
	for _, p := range ag.Engine().Status().Peers {
		if p.Name == peer {
			return p.Path
		}
	}
	return ""
}

// TestRelayCarriesTrafficWhenUDPBlocked: two nodes whose UDP endpoints
// are unusable reach each other through the coordinator's relay, their
// status says "relay", and the destination's filter still denies the
// port the policy does not allow to a dialer that skips its own check.
func TestRelayCarriesTrafficWhenUDPBlocked(t *testing.T) {
	_, op, cam, open, closed := relayedPair(t, nil, agentOpts{})
	waitFor(t, "operator reaches the camera over the relay", func() bool { return op.roundTrip("cam", open) == nil })
	if p := pathTo(op, "cam"); p != "relay" {
		t.Errorf("operator's path to the camera = %q, want relay", p)
	}
	if p := pathTo(cam, "op"); p != "relay" {
		t.Errorf("camera's path to the operator = %q, want relay", p)
	}
	// The operator plays a modified node: it forgets what its map says it
	// may reach, so only the camera's filter stands in the way.
	_, peer, err := op.Engine().Resolve("cam")
	if err != nil {
		t.Fatal(err)
	}
	peer.Grants = nil
	if err := op.Engine().Apply(wire.MapResponse{Version: op.Engine().MapVersion() + 1, PeersChanged: []wire.Node{peer}}); err != nil {
		t.Fatal(err)
	}
	denied := cam.Engine().Status().Filter.Denied
	if err := op.roundTrip("cam", closed); err == nil {
		t.Error("the denied port answered over the relay")
	}
	waitFor(t, "the camera's filter denies the flow", func() bool { return cam.Engine().Status().Filter.Denied > denied })
	if err := op.roundTrip("cam", open); err != nil {
		t.Errorf("allowed port after the denied attempt: %v", err)
	}
}

// TestRelayPathCutOnRevoke: a flow over the relay stops once an admin
// expires the camera.
func TestRelayPathCutOnRevoke(t *testing.T) {
	f, op, _, open, _ := relayedPair(t, nil, agentOpts{})
	var c net.Conn
	waitFor(t, "a flow over the relay", func() bool {
		var err error
		if c, err = op.dial("cam", open); err != nil {
			return false
		}
		if echo(c, "before") != nil {
			c.Close()
			return false
		}
		return true
	})
	defer c.Close()
	if code, body := f.Admin("POST", wire.PathAdminNodes+"/cam/expire", nil, nil); code != 200 {
		t.Fatalf("expire: %d %s", code, body)
	}
	waitFor(t, "the flow over the relay stops", func() bool { return echoWithin(c, "after", 500*time.Millisecond) != nil })
	if err := op.roundTrip("cam", open); err == nil {
		t.Error("a new flow reached the expired camera")
	}
}

// TestRelayPathSurvivesKeyRotation: new flows keep crossing the relay
// after each of the camera's key rotations: its relay connection, which
// speaks for the old key (and which the coordinator cuts), is redialled
// with a token for the new key.
func TestRelayPathSurvivesKeyRotation(t *testing.T) {
	_, op, cam, open, _ := relayedPair(t, func(c *assembly.Config) { c.RotateBurst = 1000 }, agentOpts{rotateEvery: 2 * time.Second})
	last := cam.Engine().PublicKey()
	for rotations := 0; rotations < 2; rotations++ {
		waitFor(t, "a key rotation", func() bool { return cam.Engine().PublicKey() != last })
		last = cam.Engine().PublicKey()
		waitFor(t, "a flow over the relay after a rotation", func() bool { return op.roundTrip("cam", open) == nil })
	}
}

// TestRelayedPacketsReachPeerOnAnotherRelay: the camera listens on a
// standalone relay (pinned home), the operator on the coordinator's; with
// no UDP path between them, the operator's packets go to the camera's
// home relay (a second connection, opened on demand) and the camera's to
// the operator's, so the flow works across two relays, each forwarding
// only between its own connections.
func TestRelayedPacketsReachPeerOnAnotherRelay(t *testing.T) {
	open := echoServer(t)
	f := newFleet(t, fleetPolicy(open), nil)
	f.standaloneRelay("edge1")
	cam := f.startAgent("cam", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{open},
		endpoints: []netip.AddrPort{deadUDPEndpoint(t)}, homeRelay: "edge1"})
	op := f.startAgent("op", f.authKey("tag:operator"), "", agentOpts{endpoints: []netip.AddrPort{deadUDPEndpoint(t)}})
	waitFor(t, "the operator to see the camera's home relay", func() bool {
		for _, p := range op.Engine().Status().Peers {
			if p.Name == "cam" {
				return op.Engine().HomeRelay() == "coordinator" && cam.Engine().HomeRelay() == "edge1" && p.Relay == "edge1"
			}
		}
		return false
	})
	waitFor(t, "a flow from the operator to the camera across two relays", func() bool { return op.roundTrip("cam", open) == nil })
	if got := pathTo(op, "cam"); got != "relay" {
		t.Errorf("operator's path to the camera: %q, want relay", got)
	}
}
