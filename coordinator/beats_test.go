package coordinator

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// beatEvery posts m's beats (wire.PathBeat) every d until ctx is done,
// calling the control API directly.
func (c *testCoord) beatEvery(ctx context.Context, m *machine, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.http.URL+wire.PathBeat, nil)
		req.Header.Set("Authorization", "Bearer "+m.token)
		if resp, err := c.http.Client().Do(req); err == nil {
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TestRouterThatStopsBeatingHandsOverItsRoutes: a router whose map stream
// asked for beats and that stops beating, while its connection stays open
// and read (a stopped process or a cut network look the same to the
// coordinator), has its stream ended within a few beat intervals and its
// route moves to the other router; beats posted by another node do not
// keep it alive, nor do beats without a session (401), and the router
// that keeps beating keeps its stream.
func TestRouterThatStopsBeatingHandsOverItsRoutes(t *testing.T) {
	c := startCoord(t, routesWith(`"autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw", "tag:gw2"]}},`))
	gw := c.mustRegister([]string{"tag:gw"}, "gw") // lowest id: the primary
	gw2 := c.mustRegister([]string{"tag:gw2"}, "gw2")
	op := c.mustRegister([]string{"tag:op"}, "op")
	c.advertise(gw, lan)
	c.advertise(gw2, lan)
	if code, _ := c.call(http.MethodPost, wire.PathBeat, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("beat without a session: %d, want 401", code)
	}
	const beat = 250 * time.Millisecond
	q := "beat=250"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gwCtx, stopGW := context.WithCancel(ctx)
	s1 := c.openMapQuery(gw, q)
	s1.next()
	go c.beatEvery(gwCtx, gw, beat)
	s2 := c.openMapQuery(gw2, q)
	s2.next()
	go c.beatEvery(ctx, gw2, beat)
	go c.beatEvery(ctx, op, beat) // another node's beats count for it alone
	ops := c.openMap(op, 0)
	mr := ops.next()
	if a, b := peerNamed(t, mr, "gw").Routes, peerNamed(t, mr, "gw2").Routes; !slices.Equal(a, []netip.Prefix{lan}) || len(b) != 0 {
		t.Fatalf("routes through gw %v, gw2 %v: want the route on gw only", a, b)
	}
	// Beating, gw stays the primary over many beat intervals.
	if !s1.openFor(6 * beat) {
		t.Fatal("gw's stream ended while it was beating")
	}
	stopGW()
	stopped := time.Now()
	// gw's stream ends although its connection is open and read.
	if s1.openFor(30 * time.Second) {
		t.Fatal("gw's map stream did not end within 30 s of its last beat")
	}
	t.Logf("gw's stream ended %v after gw stopped beating", time.Since(stopped).Round(time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := ops.next()
		if slices.Contains(routesOfPeer(m, "gw2"), lan) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("op's map did not move the route to gw2")
		}
	}
	t.Logf("the route moved to gw2 %v after gw stopped beating", time.Since(stopped).Round(time.Millisecond))
	if !s2.openFor(4 * beat) {
		t.Fatal("gw2's stream ended while it was beating")
	}
}

// routesOfPeer returns the routes of the peer named name that map message
// m lists, in full or as changed.
func routesOfPeer(m wire.MapResponse, name string) []netip.Prefix {
	for _, p := range append(slices.Clone(m.Peers), m.PeersChanged...) {
		if p.Name == name {
			return p.Routes
		}
	}
	return nil
}

// openFor reads s's messages for d, or until the stream ends; it reports
// whether the stream is still open.
func (s *mapStream) openFor(d time.Duration) bool {
	end := time.After(d)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				return false
			}
		case <-end:
			return true
		}
	}
}

// TestBeatOnAnotherReplicaKeepsRouterStream: with two coordinators on one
// PostgreSQL behind a balancer without sticky sessions, a router's map
// stream is on one and its beats, posted directly, all land on the other
// (with a session of its own there): the other forwards them, so the
// holder keeps the stream open over many beat intervals; when the beats
// stop, the holder ends it.
func TestBeatOnAnotherReplicaKeepsRouterStream(t *testing.T) {
	cs := startReplicas(t, 2, routesWith(`"autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw"]}},`))
	a, b := cs[0], cs[1]
	gw := a.mustRegister([]string{"tag:gw"}, "gw")
	a.advertise(gw, lan)
	const beat = 500 * time.Millisecond
	s := a.openMapQuery(gw, "beat=500")
	s.next()
	onB := &machine{priv: gw.priv, wg: gw.wg}
	b.session(onB)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go b.beatEvery(ctx, onB, beat)
	if !s.openFor(8 * beat) {
		t.Fatal("the router's stream on a ended while it beat on b")
	}
	stop()
	stopped := time.Now()
	if s.openFor(30 * time.Second) {
		t.Fatal("the router's stream on a did not end within 30 s of its last beat on b")
	}
	t.Logf("the stream on a ended %v after the beats on b stopped", time.Since(stopped).Round(time.Millisecond))
}

// TestBeatForwardingRateLimitedPerMachine: a modified node posting beats
// in a tight loop to a coordinator that does not hold its stream makes
// that coordinator forward at most one per minBeat (the replicas NOTIFY
// no faster whatever it posts); beats posted to the coordinator that
// holds the stream are never forwarded.
func TestBeatForwardingRateLimitedPerMachine(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	a, b := cs[0], cs[1]
	m := a.mustRegister([]string{"tag:camera"}, "cam1")
	s := a.openMapQuery(m, "beat=250")
	s.next()
	onB := &machine{priv: m.priv, wg: m.wg}
	b.session(onB)
	posts := 0
	start := time.Now()
	for ; time.Since(start) < time.Second; posts++ { // a second of beats as fast as they go
		for _, p := range []struct {
			c *testCoord
			m *machine
		}{{a, m}, {b, onB}} {
			if code, _ := p.c.call(http.MethodPost, wire.PathBeat, p.m.token, nil); code != http.StatusNoContent {
				t.Fatalf("beat: %d", code)
			}
		}
	}
	elapsed := time.Since(start)
	fb, fa := counterOf(t, b.srv.metrics.beatsForwarded), counterOf(t, a.srv.metrics.beatsForwarded)
	if most := 1 + int(elapsed/minBeat); fb < 2 || fb > float64(most) {
		t.Errorf("b forwarded %v of %d beats in %v, want 2 to %d", fb, posts, elapsed, most)
	}
	if fa != 0 {
		t.Errorf("a, which holds the stream, forwarded %v beats, want 0", fa)
	}
	t.Logf("b forwarded %v of %d beats posted in %v", fb, posts, elapsed.Round(time.Millisecond))
}
