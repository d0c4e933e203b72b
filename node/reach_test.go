package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// TestDialPeerAnswersFromGrants: with grants in its map, an operator is
// refused a port the policy does not grant at once, with the ports it may
// reach, and without sending anything the camera would count; a granted
// port the camera serves nothing on is refused by the camera's reset; a
// granted, served port connects.
func TestDialPeerAnswersFromGrants(t *testing.T) {
	p := newPair(t, time.Time{})
	unserved := freePort(t)
	if err := p.a.e.Apply(wire.MapResponse{Version: 4, FilterChanged: true, Filter: []filter.Rule{allowFrom(p.b, p.a, p.open, unserved)}}); err != nil {
		t.Fatal(err)
	}
	cam := p.a.peerOf(time.Time{})
	lo, hi := min(p.open, unserved), max(p.open, unserved) // sorted, as a coordinator sends them
	cam.Grants = []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: lo, Last: lo}, {First: hi, Last: hi}}}}
	p.b.addPeers(t, 3, cam)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	before := p.a.e.Status().Filter
	_, err := p.b.e.DialPeer(ctx, "cam", p.closed)
	var ng *NotGrantedError
	if !errors.As(err, &ng) || !errors.Is(err, ErrNotGranted) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial of a port not granted: %v; want a NotGrantedError", err)
	}
	want := fmt.Sprintf("not granted by the policy (you may reach cam on tcp %d, %d)", lo, hi)
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	_, err = p.b.e.DialPeer(ctx, "cam", unserved)
	var rf *RefusedError
	if !errors.As(err, &rf) || !errors.Is(err, ErrRefused) || !errors.Is(err, syscall.ECONNREFUSED) || !rf.Granted {
		t.Fatalf("dial of a granted port nothing serves: %v; want a RefusedError", err)
	}
	if want := fmt.Sprintf("cam refused the connection on port %d (granted, but nothing listens there)", unserved); err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := echoThrough(p.b, "cam", p.open, deadline); err != nil {
		t.Fatalf("granted, served port: %v", err)
	}
	time.Sleep(noAnswer)
	if after := p.a.e.Status().Filter; after.Denied != before.Denied {
		t.Errorf("the camera saw a denied flow (%+v, before %+v): the refused dial sent something", after, before)
	}
}

// TestNotGrantedErrorNamesTCPPorts: the message of a refused dial lists
// the TCP ports granted, or says there are none.
func TestNotGrantedErrorNamesTCPPorts(t *testing.T) {
	err := checkGrant(wire.Node{}, wire.Node{Name: "alice-laptop", Grants: []filter.PortGrant{}}, 22, time.Now())
	if err == nil || err.Error() != "not granted by the policy (you may reach nothing on alice-laptop)" {
		t.Fatalf("checkGrant with no grants = %v", err)
	}
	udp := []filter.PortGrant{{Proto: filter.ProtoICMP}, {Proto: filter.ProtoUDP, Ports: []filter.PortRange{{First: 53, Last: 53}}}}
	if err := checkGrant(wire.Node{}, wire.Node{Name: "dns1", Grants: udp}, 53, time.Now()); err == nil ||
		err.Error() != "not granted by the policy (you may reach dns1 on udp 53; icmp, no tcp port)" {
		t.Fatalf("checkGrant with udp only = %v", err)
	}
	both := append(udp, filter.PortGrant{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 53, Last: 53}}})
	if err := checkGrant(wire.Node{}, wire.Node{Name: "dns1", Grants: both}, 80, time.Now()); err == nil ||
		err.Error() != "not granted by the policy (you may reach dns1 on tcp 53)" {
		t.Fatalf("checkGrant with udp and tcp = %v", err)
	}
	if err := checkGrant(wire.Node{}, wire.Node{Name: "old"}, 22, time.Now()); err != nil {
		t.Fatalf("checkGrant without grants (older coordinator) = %v; want the dial to go on", err)
	}
}

// TestNotGrantedErrorNamesStepUp: a port refused on a peer whose class
// requires a recent second factor names the step-up when the person's
// last one is older (or missing), and not when it is recent.
func TestNotGrantedErrorNamesStepUp(t *testing.T) {
	now := time.Now()
	plc := wire.Node{Name: "plc1", Grants: []filter.PortGrant{}, MFAWithinMillis: (15 * time.Minute).Milliseconds()}
	for _, tt := range []struct {
		name   string
		mfaAt  time.Time
		stepUp bool
	}{{"never", time.Time{}, true}, {"too old", now.Add(-20 * time.Minute), true}, {"recent", now.Add(-time.Minute), false}} {
		err := checkGrant(wire.Node{User: "alice@example.com", MFAAt: tt.mfaAt}, plc, 22, now)
		if got := err != nil && strings.Contains(err.Error(), "needs a fresh login with a second factor") && strings.Contains(err.Error(), "ward up"); got != tt.stepUp {
			t.Errorf("%s: %v; want the step-up named: %v", tt.name, err, tt.stepUp)
		}
	}
}
