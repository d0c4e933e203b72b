package coordinator

import (
	"fmt"
	"testing"

	"github.com/wardnet/ward/wire"
)

// denyTestPolicy lets operators reach cameras on every port but 23.
const denyTestPolicy = `{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
  "acls": [
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:*"]},
    {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:camera:80"], "proto": "tcp"},
    {"action": "deny", "src": ["tag:operator"], "dst": ["tag:camera:23"]},
  ],
}`

// TestDenyRulesReachOnlyNodesThatKnowThem pins issue 17's compatibility
// rule: a node that says it speaks wire.FeatureDenyRules receives the deny
// rule in its filter; an older node (no version in its map request, as
// before) receives neither the deny nor the accept it overlaps, so it
// cannot read the deny as an accept, while the sensors' accept, which no
// deny touches, stays.
func TestDenyRulesReachOnlyNodesThatKnowThem(t *testing.T) {
	c := startCoord(t, denyTestPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:sensor"}, "s1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")

	cur := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion)).next()
	var denies, accepts int
	for _, r := range cur.Filter {
		if r.Deny {
			denies++
		} else {
			accepts++
		}
	}
	if denies != 1 || accepts != 2 {
		t.Errorf("a current node's filter has %d denies and %d accepts; want 1 and 2: %+v", denies, accepts, cur.Filter)
	}

	old := c.openMapQuery(cam, "").next()
	if len(old.Filter) != 1 || old.Filter[0].Deny || len(old.Filter[0].Dst) == 0 || old.Filter[0].Dst[0].Ports[0].First != 80 {
		t.Errorf("an old node's filter = %+v; want only the sensors' accept of port 80", old.Filter)
	}
}

// TestResumeAcrossVersionChangeResendsFilter pins the review's finding
// "the filter's sum is taken before deny rules are stripped": a node
// that resumed its stream (since) saying it is older than
// wire.FeatureDenyRules must get its filter again without the deny rule,
// which it would read as an accept, rather than keep the one it holds.
func TestResumeAcrossVersionChangeResendsFilter(t *testing.T) {
	c := startCoord(t, denyTestPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:sensor"}, "s1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")

	cur := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	first := cur.next()
	cur.resp.Body.Close()
	cur.ended()
	resumed := c.openMapQuery(cam, fmt.Sprintf("%s=%d&%s=%d", wire.MapSinceParam, first.Version, wire.MapVersionParam, wire.FeatureDenyRules-1)).next()
	if !resumed.FilterChanged {
		t.Fatalf("the resumed stream of a node older than deny rules did not resend its filter: %+v", resumed)
	}
	for _, r := range resumed.Filter {
		if r.Deny {
			t.Errorf("the resumed old node's filter holds a deny rule: %+v", resumed.Filter)
		}
	}
}
