package node

import (
	"context"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// TestEngineEndsTimeBoundGrantOnItsOwn pins issue 17's time-bound grants on
// the destination node: a rule with an Expires opens its port until then,
// and at that time the engine, with no further map (the coordinator may be
// gone), stops it, cutting a connection already open on the port, while
// the rules without an end keep working.
func TestEngineEndsTimeBoundGrantOnItsOwn(t *testing.T) {
	p := newPair(t, time.Time{})
	grant := allowFrom(p.b, p.a, p.closed)
	grant.Expires = time.Now().Add(3 * time.Second)
	if err := p.a.e.Apply(wire.MapResponse{Version: 5, FilterChanged: true, Filter: []filter.Rule{allowFrom(p.b, p.a, p.open), grant}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	live, err := p.b.e.DialPeer(ctx, "cam", p.closed)
	if err != nil {
		t.Fatalf("dial the granted port: %v", err)
	}
	defer live.Close()
	if _, err := roundTrip(live, "while granted"); err != nil {
		t.Fatalf("echo while granted: %v", err)
	}
	eventually(t, "the grant ends on the camera's own clock", func() bool {
		live.SetDeadline(time.Now().Add(noAnswer))
		_, err := roundTrip(live, "after the end")
		return err != nil
	})
	if !time.Now().After(grant.Expires) {
		t.Errorf("the open connection was cut before the grant's end")
	}
	if err := echoThrough(p.b, "cam", p.closed, noAnswer); err == nil {
		t.Error("a new connection to the ended grant's port passed")
	}
	if err := echoThrough(p.b, "cam", p.open, deadline); err != nil {
		t.Errorf("the grant without an end: %v", err)
	}
}
