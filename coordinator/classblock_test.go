package coordinator

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestClassDiffBlockShared: when a policy change gives every sensor the
// same new peers, the binary streams of the class send one binary peer
// block, made once (classDiff.block), and every sensor's map still
// matches the one computed from scratch; a node of the JSON protocol in
// the same class gets the same peers as JSON.
func TestClassDiffBlockShared(t *testing.T) {
	before := `{"tagOwners": {"tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:camera"], "dst": ["tag:camera:443"], "proto": "tcp"}]}`
	after := `{"tagOwners": {"tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:camera"], "dst": ["tag:camera:443"], "proto": "tcp"},
	           {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:camera:554"], "proto": "tcp"}]}`
	c := startCoordWith(t, before, func(cfg *Config) { cfg.Auth = fakeAuth{} })
	fleet := map[string]*follower{}
	join := func(tag, name string, proto int) {
		f := &follower{c: c, m: c.mustRegister([]string{tag}, name), name: name, proto: proto}
		f.open(0)
		fleet[name] = f
	}
	for i := range 6 {
		join("tag:camera", fmt.Sprintf("cam%d", i), wire.ProtocolVersion)
	}
	for i := range 8 {
		proto := wire.ProtocolVersion
		if i == 7 {
			proto = 0 // JSON peers
		}
		join("tag:sensor", fmt.Sprintf("sensor%d", i), proto)
	}
	checkFleetMaps(t, c, before, fleet, "before the change")
	views := c.srv.metrics.mapViews
	made0, shared0 := valueOf(t, views.WithLabelValues("block")), valueOf(t, views.WithLabelValues("block-shared"))

	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: after, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	checkFleetMaps(t, c, after, fleet, "after the change")
	for name, f := range fleet {
		if strings.HasPrefix(name, "sensor") && len(f.snapshot().Peers) != 6 {
			t.Fatalf("%s holds %d peers, want the 6 cameras", name, len(f.snapshot().Peers))
		}
	}
	made, shared := valueOf(t, views.WithLabelValues("block"))-made0, valueOf(t, views.WithLabelValues("block-shared"))-shared0
	t.Logf("binary peer blocks made %v, sent as made by another stream %v", made, shared)
	if made != 1 || shared < 1 {
		t.Fatalf("blocks made %v (want 1), shared %v (want some): the sensors' streams did not share the class's block", made, shared)
	}
	for _, f := range fleet {
		f.close()
	}
}
