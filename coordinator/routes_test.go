package coordinator

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

const routesPolicy = `{
  "tagOwners": {"tag:gw": [], "tag:gw2": [], "tag:op": [], "tag:other": []},
  "hosts": {"webui": "192.168.10.5/32"},
  "grants": [
    {"src": ["tag:op"], "dst": ["webui"], "ip": ["tcp:80"]},
    {"src": ["tag:other"], "dst": ["tag:gw", "tag:gw2"], "ip": ["tcp:22"]},
  ],
  %AUTO%
}`

var lan = netip.MustParsePrefix("192.168.10.0/24")

// fullMap opens a fresh map stream for m and returns its full map.
func (c *testCoord) fullMap(m *machine) wire.MapResponse {
	c.t.Helper()
	return c.openMap(m, 0).next()
}

// peerNamed returns the peer named name of map mr.
func peerNamed(t *testing.T, mr wire.MapResponse, name string) wire.Node {
	t.Helper()
	for _, p := range mr.Peers {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("map has no peer %s", name)
	return wire.Node{}
}

// routesVia returns the routes of map mr's peer named name (none when the
// map has no such peer).
func routesVia(mr wire.MapResponse, name string) []netip.Prefix {
	for _, p := range mr.Peers {
		if p.Name == name {
			return p.Routes
		}
	}
	return nil
}

// advertise reports routes as node m, calling the control API directly.
func (c *testCoord) advertise(m *machine, routes ...netip.Prefix) int {
	c.t.Helper()
	code, _ := c.call(http.MethodPost, wire.PathReport, m.token, wire.Report{AdvertisedRoutes: append([]netip.Prefix{}, routes...)})
	return code
}

// TestRouteReachesOnlyGrantedPeersOnceApproved: an advertised route is in
// no map until an admin approves it; then the peer the policy lets reach
// an address in it (tag:op, to 192.168.10.5:80) has it among the router's
// routes, a peer that may reach only the router itself does not, and the
// router's filter lets exactly 192.168.10.5:80 through.
func TestRouteReachesOnlyGrantedPeersOnceApproved(t *testing.T) {
	c := startCoord(t, routesWith(""))
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	op := c.mustRegister([]string{"tag:op"}, "op")
	other := c.mustRegister([]string{"tag:other"}, "other")
	if code := c.advertise(gw, lan); code != http.StatusNoContent {
		t.Fatalf("advertise: %d", code)
	}
	if got := routesVia(c.fullMap(op), "gw"); len(got) != 0 {
		t.Fatalf("unapproved route in op's map: %v", got)
	}
	if got := c.fullMap(gw).Self.Routes; len(got) != 0 {
		t.Fatalf("unapproved route served by gw: %v", got)
	}
	var an wire.AdminNode
	if code := c.admin(http.MethodPost, wire.PathAdminNodes+"/gw/routes", wire.RoutesRequest{Approve: []netip.Prefix{lan}}, &an); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	if !slices.Equal(an.Routes, []netip.Prefix{lan}) || !slices.Equal(an.PrimaryRoutes, []netip.Prefix{lan}) {
		t.Fatalf("approved node: routes %v primary %v", an.Routes, an.PrimaryRoutes)
	}
	if got := peerNamed(t, c.fullMap(op), "gw").Routes; !slices.Equal(got, []netip.Prefix{lan}) {
		t.Errorf("op's routes through gw = %v, want %v", got, lan)
	}
	if got := peerNamed(t, c.fullMap(other), "gw").Routes; len(got) != 0 {
		t.Errorf("other, granted only gw itself, sees routes %v", got)
	}
	gm := c.fullMap(gw)
	if !slices.Equal(gm.Self.Routes, []netip.Prefix{lan}) {
		t.Errorf("gw serves %v, want %v", gm.Self.Routes, lan)
	}
	m := filter.Compile(gm.Filter)
	opAddr := peerNamed(t, c.fullMap(gw), "op").IPv4
	for _, tc := range []struct {
		dst  string
		port uint16
		want bool
	}{{"192.168.10.5", 80, true}, {"192.168.10.5", 22, false}, {"192.168.10.6", 502, false}, {"192.168.10.6", 80, false}} {
		if got, _ := m.Match(opAddr, netip.MustParseAddr(tc.dst), filter.ProtoTCP, tc.port); got != tc.want {
			t.Errorf("gw's filter: op -> %s:%d allowed %v, want %v", tc.dst, tc.port, got, tc.want)
		}
	}
	// Rejected: the route carries nothing again.
	if code := c.admin(http.MethodPost, wire.PathAdminNodes+"/gw/routes", wire.RoutesRequest{Reject: []netip.Prefix{lan}}, nil); code != http.StatusOK {
		t.Fatalf("reject: %d", code)
	}
	if got := routesVia(c.fullMap(op), "gw"); len(got) != 0 {
		t.Errorf("rejected route still in op's map: %v", got)
	}
}

// TestRouteRefusesNonSubnetRoutes: a node cannot advertise a default
// route, loopback or the overlay's range, and an admin cannot approve one.
func TestRouteRefusesNonSubnetRoutes(t *testing.T) {
	c := startCoord(t, routesWith(""))
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	for _, p := range []string{"0.0.0.0/0", "127.0.0.0/8", "100.64.0.0/16", "::/0"} {
		if code := c.advertise(gw, netip.MustParsePrefix(p)); code != http.StatusBadRequest {
			t.Errorf("advertise %s: %d, want 400", p, code)
		}
		if code := c.admin(http.MethodPost, wire.PathAdminNodes+"/gw/routes", wire.RoutesRequest{Approve: []netip.Prefix{netip.MustParsePrefix(p)}}, nil); code != http.StatusBadRequest {
			t.Errorf("approve %s: %d, want 400", p, code)
		}
	}
}

// TestRouteAutoApproversApprove: the policy's autoApprovers put a tagged
// router's route in use without an admin.
func TestRouteAutoApproversApprove(t *testing.T) {
	c := startCoord(t, routesWith(`"autoApprovers": {"routes": {"192.168.0.0/16": ["tag:gw"]}},`))
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	op := c.mustRegister([]string{"tag:op"}, "op")
	c.advertise(gw, lan)
	if got := peerNamed(t, c.fullMap(op), "gw").Routes; !slices.Equal(got, []netip.Prefix{lan}) {
		t.Errorf("op's routes through the auto-approved gw = %v, want %v", got, lan)
	}
}

// TestRouteFailsOverToOnlineRouter: two routers of one route; the map
// lists it on one (the primary) and, once that one's map stream closes,
// on the other.
func TestRouteFailsOverToOnlineRouter(t *testing.T) {
	c := startCoord(t, routesWith(`"autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw", "tag:gw2"]}},`))
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	gw2 := c.mustRegister([]string{"tag:gw2"}, "gw2")
	op := c.mustRegister([]string{"tag:op"}, "op")
	c.advertise(gw, lan)
	c.advertise(gw2, lan)
	s1 := c.openMap(gw, 0)
	s1.next()
	c.openMap(gw2, 0).next()
	mr := c.fullMap(op)
	if a, b := peerNamed(t, mr, "gw").Routes, peerNamed(t, mr, "gw2").Routes; !slices.Equal(a, []netip.Prefix{lan}) || len(b) != 0 {
		t.Fatalf("routes through gw %v, gw2 %v: want the route on gw only", a, b)
	}
	ops := c.openMap(op, 0)
	ops.next()
	s1.resp.Body.Close() // gw goes offline
	deadline := time.Now().Add(10 * time.Second)
	for {
		mr := c.fullMap(op)
		if a, b := peerNamed(t, mr, "gw").Routes, peerNamed(t, mr, "gw2").Routes; len(a) == 0 && slices.Equal(b, []netip.Prefix{lan}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the route did not move to gw2 within 10 s of gw going offline")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func routesWith(auto string) string {
	return strings.Replace(routesPolicy, "%AUTO%", auto, 1)
}

// TestRoutePrimaryStaysWhenOldPrimaryReturns: once a route moved to the
// other router because its primary went offline, the old primary coming
// back does not take it back (flows through the new primary keep going);
// it is the primary again only when the new one goes offline.
func TestRoutePrimaryStaysWhenOldPrimaryReturns(t *testing.T) {
	c := startCoordWith(t, routesWith(`"autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw", "tag:gw2"]}},`),
		func(cfg *Config) { cfg.MapReopenEvery, cfg.MapReopenBurst = time.Millisecond, 1000 })
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	gw2 := c.mustRegister([]string{"tag:gw2"}, "gw2")
	op := c.mustRegister([]string{"tag:op"}, "op")
	c.advertise(gw, lan)
	c.advertise(gw2, lan)
	s1 := c.openMap(gw, 0)
	s1.next()
	s2 := c.openMap(gw2, 0)
	s2.next()
	holders := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := c.openMap(op, 0)
			got := routeHolders(s.next(), lan)
			s.resp.Body.Close()
			if slices.Equal(got, []string{want}) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("op has the route on %v, want on %s", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	holders("gw")
	s1.resp.Body.Close()
	holders("gw2")
	c.openMap(gw, 0).next() // gw is back online
	var an wire.AdminNode
	deadline := time.Now().Add(10 * time.Second)
	for !an.Online {
		if c.admin(http.MethodGet, wire.PathAdminNodes+"/gw", nil, &an) != http.StatusOK || time.Now().After(deadline) {
			t.Fatal("gw did not come back online")
		}
	}
	if len(an.PrimaryRoutes) != 0 {
		t.Errorf("the returning gw is primary for %v", an.PrimaryRoutes)
	}
	holders("gw2")
	s2.resp.Body.Close()
	holders("gw")
}
