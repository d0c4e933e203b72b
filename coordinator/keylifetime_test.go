package coordinator

import (
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestAdminNodesCarryKeyLifetime: the admin API tells how long each node's
// keys live (a device's key lifetime; a person's key TTL, shortened by
// their groups' limits), which the admin UI needs to call a key "expiring
// soon" against its own life rather than a fixed week.
func TestAdminNodesCarryKeyLifetime(t *testing.T) {
	c := startCoordWith(t, userPolicy, func(cfg *Config) {
		cfg.Auth = fakeAuth{}
		cfg.KeyLifetime = 20 * time.Hour
		cfg.GroupKeyTTL = map[string]time.Duration{"group:contractors": time.Hour}
	})
	c.mustRegister([]string{"tag:camera"}, "cam1")
	if res, code := c.login(newMachine(t), "alice", "ops"); code != 200 || !res.Done {
		t.Fatalf("alice's login: %d %+v", code, res)
	}
	if res, code := c.login(newMachine(t), "bob", "contractors"); code != 200 || !res.Done {
		t.Fatalf("bob's login: %d %+v", code, res)
	}
	var nodes []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes, nil, &nodes); code != 200 {
		t.Fatalf("list nodes: %d", code)
	}
	want := map[string]time.Duration{"cam1": 20 * time.Hour, "alice-laptop": 12 * time.Hour, "bob-laptop": time.Hour}
	for _, n := range nodes {
		if w, ok := want[n.Name]; !ok || n.KeyLifetime() != w {
			t.Errorf("%s: key lifetime %v, want %v", n.Name, n.KeyLifetime(), w)
		}
		delete(want, n.Name)
	}
	if len(want) > 0 {
		t.Errorf("nodes missing from the list: %v", want)
	}
}
