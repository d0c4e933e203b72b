package coordinator

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// routesViaPolicy: two kinds of routers of one LAN (tag:gw, and tag:gwvia
// named by the via grants); op reaches the LAN only through tag:gwvia,
// both through via and without, plain without, other not at all.
const routesViaPolicy = `{
  "tagOwners": {"tag:gw": [], "tag:gwvia": [], "tag:op": [], "tag:both": [], "tag:plain": [], "tag:other": [], "tag:mixed": []},
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw", "tag:gwvia"]}},
  "grants": [
    {"src": ["tag:op"], "dst": ["192.168.10.0/24"], "ip": ["tcp:80"], "via": ["tag:gwvia"]},
    {"src": ["tag:both"], "dst": ["192.168.10.5/32"], "ip": ["tcp:80"], "via": ["tag:gwvia"]},
    {"src": ["tag:both"], "dst": ["192.168.10.5/32"], "ip": ["tcp:80"]},
    {"src": ["tag:plain"], "dst": ["192.168.10.6/32"], "ip": ["tcp:502"]},
    {"src": ["tag:other"], "dst": ["tag:gw", "tag:gwvia"], "ip": ["tcp:22"]},
    {"src": ["tag:mixed"], "dst": ["192.168.10.5/32"], "ip": ["tcp:80"]},
    {"src": ["tag:mixed"], "dst": ["192.168.10.6/32"], "ip": ["tcp:502"], "via": ["tag:gwvia"]},
  ],
}`

// routeHolders returns the names of the peers of mr that carry route r.
func routeHolders(mr wire.MapResponse, r netip.Prefix) []string {
	var out []string
	for _, p := range mr.Peers {
		if slices.Contains(p.Routes, r) {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestRouteViaGrantPicksATaggedRouter: a viewer whose access to a routed
// prefix comes from a via grant has the route on a router with a via tag
// (the online one with the lowest id, failing over among those), never on
// the LAN's primary without the tag, even once every via router is
// offline; a viewer granted the same prefix with and without via, and one
// granted it without, use the primary; a viewer with no grant into the
// LAN sees the route nowhere.
func TestRouteViaGrantPicksATaggedRouter(t *testing.T) {
	// The test polls fresh maps: let a node reopen its stream freely.
	c := startCoordWith(t, routesViaPolicy, func(cfg *Config) { cfg.MapReopenEvery, cfg.MapReopenBurst = time.Millisecond, 1000 })
	gw := c.mustRegister([]string{"tag:gw"}, "gw") // lowest id: the primary
	via1 := c.mustRegister([]string{"tag:gwvia"}, "via1")
	via2 := c.mustRegister([]string{"tag:gwvia"}, "via2")
	op := c.mustRegister([]string{"tag:op"}, "op")
	both := c.mustRegister([]string{"tag:both"}, "both")
	plain := c.mustRegister([]string{"tag:plain"}, "plain")
	other := c.mustRegister([]string{"tag:other"}, "other")
	streams := map[string]*mapStream{}
	for name, m := range map[string]*machine{"gw": gw, "via1": via1, "via2": via2} {
		c.advertise(m, lan)
		streams[name] = c.openMap(m, 0)
		streams[name].next()
	}
	want := func(m *machine, name string, holders ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := c.openMap(m, 0)
			got := routeHolders(s.next(), lan)
			s.resp.Body.Close()
			if slices.Equal(got, holders) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has the route on %v, want %v", name, got, holders)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want(op, "op (via only)", "via1")
	want(both, "both (with and without via)", "gw")
	want(plain, "plain (without via)", "gw")
	want(other, "other (no grant into the LAN)")

	streams["via1"].resp.Body.Close() // the via primary goes offline
	want(op, "op after via1 went offline", "via2")
	want(both, "both after via1 went offline", "gw")

	streams["via2"].resp.Body.Close() // every via router offline
	want(op, "op with every via router offline", "via1")

	streams["gw"].resp.Body.Close()
	want(plain, "plain with every router offline", "gw")
}

// TestRouteViaGrantForPartOfARouteGoesThroughTaggedRouter: a viewer
// granted one device of a LAN without via and another through a via
// grant has the whole route on the primary and the via device's address
// on the first router with the via tag (its longest match wins there),
// failing over among those.
func TestRouteViaGrantForPartOfARouteGoesThroughTaggedRouter(t *testing.T) {
	c := startCoordWith(t, routesViaPolicy, func(cfg *Config) { cfg.MapReopenEvery, cfg.MapReopenBurst = time.Millisecond, 1000 })
	streams := map[string]*mapStream{}
	for _, r := range []struct{ name, tag string }{{"gw", "tag:gw"}, {"via1", "tag:gwvia"}, {"via2", "tag:gwvia"}} {
		m := c.mustRegister([]string{r.tag}, r.name)
		c.advertise(m, lan)
		streams[r.name] = c.openMap(m, 0)
		streams[r.name].next()
	}
	mixed := c.mustRegister([]string{"tag:mixed"}, "mixed")
	plc := netip.MustParsePrefix("192.168.10.6/32")
	want := func(what string, w map[string][]netip.Prefix) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := c.openMap(mixed, 0)
			mr := s.next()
			s.resp.Body.Close()
			got := map[string][]netip.Prefix{}
			for _, p := range mr.Peers {
				if len(p.Routes) > 0 {
					got[p.Name] = p.Routes
				}
			}
			if reflect.DeepEqual(got, w) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: mixed's routes %v, want %v", what, got, w)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want("all online", map[string][]netip.Prefix{"gw": {lan}, "via1": {plc}})
	streams["via1"].resp.Body.Close()
	want("via1 offline", map[string][]netip.Prefix{"gw": {lan}, "via2": {plc}})
}
