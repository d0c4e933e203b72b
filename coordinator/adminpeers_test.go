package coordinator

import (
	"net/http"
	"slices"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestAdminNodeListsMapPeers pins that the admin answer for one node names the same
// peers its map has (the list, since protocol 25, names none).
func TestAdminNodeListsMapPeers(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op")
	c.mustRegister([]string{"tag:camera"}, "cam")
	c.mustRegister([]string{"tag:sensor"}, "sensor")

	var nodes []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes, nil, &nodes); code != http.StatusOK {
		t.Fatalf("list nodes: %d", code)
	}
	want := map[string][]string{"op": {"cam"}, "cam": {"op"}, "sensor": nil}
	for _, n := range nodes {
		if len(n.Peers) > 0 { // since protocol 25: the answer for one node has them
			t.Errorf("%s in the list: peers %v, want none", n.Name, n.Peers)
		}
		if code := c.admin("GET", wire.PathAdminNodes+"/"+n.Name, nil, &n); code != http.StatusOK {
			t.Fatalf("get node %s: %d", n.Name, code)
		}
		got := slices.Sorted(slices.Values(n.Peers))
		if !slices.Equal(got, want[n.Name]) {
			t.Errorf("%s: peers %v, want %v", n.Name, got, want[n.Name])
		}
	}
	if len(nodes) != len(want) {
		t.Fatalf("listed %d nodes, want %d", len(nodes), len(want))
	}

	m := c.openMap(op, 0).next()
	var mapPeers []string
	for _, p := range m.Peers {
		mapPeers = append(mapPeers, p.Name)
	}
	if !slices.Equal(mapPeers, want["op"]) {
		t.Errorf("op's map peers %v, want %v", mapPeers, want["op"])
	}
}
