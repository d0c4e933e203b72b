package coordinator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/wire"
)

const routeHostsPolicy = `{
  "tagOwners": {"tag:gw": [], "tag:op": [], "tag:op2": [], "tag:other": []},
  "hosts": {"webui": "192.168.10.5/32", "PLC-1": "192.168.10.6", "hmi": "192.168.10.7/32",
            "lan": "192.168.10.0/24", "pair": "192.168.10.8/31", "far": "10.9.9.9/32"},
  "grants": [
    {"src": ["tag:op"], "dst": ["webui", "far"], "ip": ["tcp:80"]},
    {"src": ["tag:op2"], "dst": ["PLC-1", "pair"], "ip": ["tcp:502"]},
    {"src": ["tag:other"], "dst": ["tag:gw"], "ip": ["tcp:22"]},
  ],
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw"]}},
}`

// rawFullMap fetches m's full map straight from the map endpoint, as any
// client could, and returns its JSON line undecoded.
func (c *testCoord) rawFullMap(m *machine) []byte {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap+"?since=0", nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("map: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	if !sc.Scan() {
		c.t.Fatalf("map: no message: %v", sc.Err())
	}
	return bytes.Clone(sc.Bytes())
}

// routeHostsVia decodes raw, a full map, and returns the route names on
// its peer named name.
func routeHostsVia(t *testing.T, raw []byte, name string) []wire.RouteHost {
	t.Helper()
	var mr wire.MapResponse
	if err := json.Unmarshal(raw, &mr); err != nil {
		t.Fatal(err)
	}
	return peerNamed(t, mr, name).RouteHosts
}

// TestRouteHostsOnlyInMapsOfPeersWhoMayReachThem: a policy "hosts" name
// of one device behind an approved route reaches, on the router's
// record, the map of a peer the policy lets reach that device (and only
// that device's name), never the map of a peer that may reach the router
// or other devices only; names of wider prefixes, of devices nobody may
// reach and of addresses outside every route are no names. Maps are read
// raw from the map endpoint, so a name left in any field would show.
func TestRouteHostsOnlyInMapsOfPeersWhoMayReachThem(t *testing.T) {
	c := startCoord(t, routeHostsPolicy)
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	op := c.mustRegister([]string{"tag:op"}, "op")
	op2 := c.mustRegister([]string{"tag:op2"}, "op2")
	other := c.mustRegister([]string{"tag:other"}, "other")
	if code := c.advertise(gw, lan); code != http.StatusNoContent {
		t.Fatalf("advertise: %d", code)
	}
	eq := cmpopts.EquateComparable(netip.Addr{})
	for _, tc := range []struct {
		viewer *machine
		name   string
		want   []wire.RouteHost
		absent []string
	}{
		{op, "op", []wire.RouteHost{{Name: "webui", Addr: netip.MustParseAddr("192.168.10.5")}}, []string{"plc-1", "PLC-1", "hmi", "far", "pair", `"lan"`}},
		{op2, "op2", []wire.RouteHost{{Name: "plc-1", Addr: netip.MustParseAddr("192.168.10.6")}}, []string{"webui", "hmi", "far", "pair", `"lan"`}},
		{other, "other", nil, []string{"webui", "plc-1", "PLC-1", "hmi", "route_hosts"}},
	} {
		raw := c.rawFullMap(tc.viewer)
		if d := cmp.Diff(tc.want, routeHostsVia(t, raw, "gw"), eq, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s's route names through gw (-want +got):\n%s", tc.name, d)
		}
		for _, s := range tc.absent {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s's map holds %s:\n%s", tc.name, s, raw)
			}
		}
	}
	// The router's own map and Self carry no names.
	if raw := c.rawFullMap(gw); bytes.Contains(raw, []byte("route_hosts")) {
		t.Errorf("gw's map holds route names:\n%s", raw)
	}
}

// TestRouteHostsFollowPolicyChanges: a policy change that gives a device
// a name reaches a live map stream as the router's record with the name;
// one that revokes the grant takes the name away with the route (and
// the router, op's peer only through that grant).
func TestRouteHostsFollowPolicyChanges(t *testing.T) {
	c := startCoord(t, routeHostsPolicy)
	gw := c.mustRegister([]string{"tag:gw"}, "gw")
	op := c.mustRegister([]string{"tag:op"}, "op")
	c.advertise(gw, lan)
	s := c.openMap(op, 0)
	first := peerNamed(t, s.next(), "gw")
	if got := first.RouteHosts; len(got) != 1 || got[0].Name != "webui" {
		t.Fatalf("first map: route names %v", got)
	}
	named := bytes.Replace([]byte(routeHostsPolicy), []byte(`"hmi": "192.168.10.7/32",`), []byte(`"hmi": "192.168.10.7/32", "web-2": "192.168.10.5",`), 1)
	c.putPolicy(string(named))
	want := []string{"web-2", "webui"}
	if got := namesOf(changedPeer(t, s, "gw").RouteHosts); !slices.Equal(got, want) {
		t.Errorf("after naming .5 again: route names %v, want %v", got, want)
	}
	revoked := bytes.Replace(named, []byte(`"dst": ["webui", "far"]`), []byte(`"dst": ["far"]`), 1)
	c.putPolicy(string(revoked))
	if !slices.Contains(s.next().PeersRemoved, first.ID) {
		t.Errorf("after the revocation gw stays in op's map")
	}
}

// putPolicy replaces the running policy through the admin API.
func (c *testCoord) putPolicy(text string) {
	c.t.Helper()
	var cur wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &cur)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, ParentID: cur.ID}, nil); code != http.StatusOK {
		c.t.Fatalf("put policy: %d", code)
	}
}

// changedPeer waits on s for a delta that changes the peer named name and
// returns that record.
func changedPeer(t *testing.T, s *mapStream, name string) wire.Node {
	t.Helper()
	for range 10 {
		for _, p := range s.next().PeersChanged {
			if p.Name == name {
				return p
			}
		}
	}
	t.Fatalf("no change to %s in 10 messages", name)
	return wire.Node{}
}

func namesOf(hs []wire.RouteHost) []string {
	var out []string
	for _, h := range hs {
		out = append(out, fmt.Sprint(h.Name))
	}
	return out
}
