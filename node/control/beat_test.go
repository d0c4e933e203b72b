package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

// TestClientBeatsWhileItsMapStreamIsOpen: a client made to beat (a subnet
// router) says so on its map request and posts beats while the stream is
// open, and stops once it ends; one not made to beat, or talking to a
// coordinator older than wire.FeatureRouterBeat, does neither.
func TestClientBeatsWhileItsMapStreamIsOpen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		beat    time.Duration
		version int
		want    string
	}{
		{"router", 50 * time.Millisecond, 0, "50"},
		{"not a router", 0, 0, ""},
		{"older coordinator", 50 * time.Millisecond, int(wire.FeatureRouterBeat) - 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := controltest.New(t)
			srv.Version = tc.version
			mk, err := wire.NewMachinePrivate()
			if err != nil {
				t.Fatal(err)
			}
			c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk, Beat: tc.beat})
			if err != nil {
				t.Fatal(err)
			}
			srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw"}})
			ctx, cancel := context.WithCancel(context.Background())
			rec := newRecorder()
			done := make(chan error, 1)
			go func() { done <- c.FollowMap(ctx, 0, rec) }()
			rec.next(t)
			if tc.want != "" {
				deadline := time.Now().Add(wait)
				for srv.Beats() < 3 {
					if time.Now().After(deadline) {
						t.Fatalf("%d beats within %v, want 3", srv.Beats(), wait)
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				time.Sleep(5 * 50 * time.Millisecond) // five beat intervals
			}
			cancel()
			<-done
			after := srv.Beats()
			time.Sleep(5 * 50 * time.Millisecond)
			if tc.want == "" && after != 0 {
				t.Errorf("%d beats, want none", after)
			}
			if n := srv.Beats(); n != after {
				t.Errorf("%d beats after the stream ended", n-after)
			}
			if p := srv.BeatParams(); len(p) == 0 || p[0] != tc.want {
				t.Errorf("map requests' beat parameters %q, want %q", p, tc.want)
			}
		})
	}
}
