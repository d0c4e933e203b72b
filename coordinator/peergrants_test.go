package coordinator

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// grantsPolicy: operators reach cameras on tcp 22 and 80-90, and sensors
// on tcp 8883; nothing reaches an operator.
const grantsPolicy = `{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
  "acls": [
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22,80-90"], "proto": "tcp"},
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:sensor:8883"], "proto": "tcp"},
  ],
}`

func tcpGrants(rs ...filter.PortRange) []filter.PortGrant {
	return []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: rs}}
}

// peerOf returns the peer named name among ns.
func peerOf(t *testing.T, ns []wire.Node, name string) wire.Node {
	t.Helper()
	for _, n := range ns {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no peer %s in %v", name, peerNames(ns))
	return wire.Node{}
}

// waitGrants reads s until a delta gives peer name the grants want (other
// changes of the peer, such as its presence, may come first).
func waitGrants(t *testing.T, s *mapStream, name string, want []filter.PortGrant) {
	t.Helper()
	for {
		m := s.next()
		if m.Full {
			t.Fatalf("a full map where a delta was due: %+v", m)
		}
		for _, p := range m.PeersChanged {
			if p.Name == name && cmp.Equal(p.Grants, want) {
				return
			}
		}
	}
}

// TestMapCarriesViewerGrants pins protocol 5: every peer in a node's map
// carries what that node may open toward it (and an explicit nothing for
// a peer that may only reach it), and a change of those grants, by a
// policy edit or by a retag of the peer, reaches the viewer as a delta.
func TestMapCarriesViewerGrants(t *testing.T) {
	c := startCoord(t, grantsPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	opMap, camMap := c.openMap(op, 0), c.openMap(cam, 0)

	full := opMap.next()
	want := tcpGrants(filter.PortRange{First: 22, Last: 22}, filter.PortRange{First: 80, Last: 90})
	if diff := cmp.Diff(want, peerOf(t, full.Peers, "cam1").Grants); diff != "" {
		t.Errorf("op1's grants on cam1 (-want +got):\n%s", diff)
	}
	if g := peerOf(t, camMap.next().Peers, "op1").Grants; g == nil || len(g) != 0 {
		t.Errorf("cam1's grants on op1 = %#v; want present and empty", g)
	}
	if full.Self.Grants != nil {
		t.Errorf("op1's own node carries grants: %+v", full.Self.Grants)
	}

	// A policy edit: the viewer's map changes, not only the camera's filter.
	edited := strings.Replace(grantsPolicy, "tag:camera:22,80-90", "tag:camera:554", 1)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: edited, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	waitGrants(t, opMap, "cam1", tcpGrants(filter.PortRange{First: 554, Last: 554}))

	// A retag of the peer: the camera becomes a sensor.
	if code := c.admin("PUT", wire.PathAdminNodes+"/cam1/tags", wire.SetTagsRequest{Tags: []string{"tag:sensor"}}, nil); code != 200 {
		t.Fatalf("retag: %d", code)
	}
	waitGrants(t, opMap, "cam1", tcpGrants(filter.PortRange{First: 8883, Last: 8883}))
}
