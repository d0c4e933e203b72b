//go:build linux

package nat

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
)

// failoverBound is how soon after the primary router stops the issue asks
// the other router to carry new flows (issue 14: "within 5 s").
const failoverBound = 5 * time.Second

// firstSuccess starts get every poll*10, each attempt in a goroutine of
// its own (an attempt through a stopped router hangs until its timeouts),
// until one returns want or d passes; it returns how long that took.
func firstSuccess(ctx context.Context, d time.Duration, want string, get func() (string, error)) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	won := make(chan time.Duration, 1)
	tick := time.NewTicker(10 * poll)
	defer tick.Stop()
	for {
		go func() {
			if body, err := get(); err == nil && body == want {
				select {
				case won <- time.Since(start):
				default:
				}
			}
		}()
		select {
		case took := <-won:
			return took, true
		case <-ctx.Done():
			return 0, false
		case <-tick.C:
		}
	}
}

// TestSubnetRouterFailoverWhenPrimaryStops: two gateways advertise the
// same LAN; the primary's process is stopped (SIGSTOP: its connections
// stay open, nothing answers), and new flows from the operator reach the
// LAN through the other gateway within the 5 s, because the
// stopped router's beats stop and the coordinator ends its map stream.
// Once resumed, the first gateway comes back online, and the route stays
// on the second.
func TestSubnetRouterFailoverWhenPrimaryStops(t *testing.T) {
	w := newWorldOn(t, nattest.NewNamed(t, "w14v"))
	w.setPolicy(subnetPolicy(true, true))
	gw1, lan1 := w.addGateway("gw1")
	serveLAN(t, lan1, "via gw1\n")
	waitFor(t, 30*time.Second, "gw1 is the primary router", func() bool {
		return slices.Contains(w.node("gw1").PrimaryRoutes, lanPrefix)
	})
	_, lan2 := w.addGateway("gw2")
	serveLAN(t, lan2, "via gw2\n")
	waitFor(t, 30*time.Second, "gw2 serves the route too", func() bool {
		n := w.node("gw2")
		return slices.Contains(n.Routes, lanPrefix) && n.Online
	})
	op := w.addNode("op", nattest.EIM, "tag:op")
	get := func() (string, error) { return op.httpGet(lanWeb) }
	if _, ok := firstSuccess(t.Context(), 30*time.Second, "via gw1\n", get); !ok {
		t.Fatal("the operator did not reach the LAN through gw1")
	}

	p := gw1.proc.cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			p.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the process is killed (cleanups run last first)
	took, ok := firstSuccess(t.Context(), 30*time.Second, "via gw2\n", get)
	if !ok {
		t.Fatal("no request went through gw2 within 30 s of gw1 stopping")
	}
	t.Logf("gw2 carried a new flow %v after gw1 was stopped", took.Round(time.Millisecond))
	if took > failoverBound {
		t.Errorf("failover took %v, more than the %v the issue allows", took, failoverBound)
	}
	if n := w.node("gw1"); n.Online || slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Errorf("the stopped gw1 is online %v, primary for %v", n.Online, n.PrimaryRoutes)
	}
	if n := w.node("gw2"); !slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Errorf("gw2 is not primary while gw1 is stopped: %v", n.PrimaryRoutes)
	}

	resume()
	waitFor(t, 60*time.Second, "the resumed gw1 comes back online", func() bool {
		return w.node("gw1").Online
	})
	// The route stays on gw2: gw1's return does not move it back.
	if n := w.node("gw1"); slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Errorf("the resumed gw1 took the route back")
	}
	if body, err := op.httpGet(lanWeb); err != nil || body != "via gw2\n" {
		t.Errorf("after gw1 resumed: %q, %v; want via gw2", body, err)
	}
}
