package coordinator

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

func TestReloadPolicyFile(t *testing.T) {
	c := startCoord(t, testPolicy)
	pf := c.srv.cfg.PolicyFile
	if err := os.WriteFile(pf, []byte(`{"acls": [{"action": "accept", "src": ["tag:ghost"], "dst": ["*:*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.fleet.ReloadPolicyFile(context.Background()); err == nil || !strings.Contains(err.Error(), "tag:ghost") {
		t.Fatalf("reload of an invalid file: %v", err)
	}
	var vs []wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy+"/versions", nil, &vs)
	if len(vs) != 1 {
		t.Fatalf("an invalid reload saved a version: %d versions", len(vs))
	}
	if err := os.WriteFile(pf, []byte(strings.Replace(testPolicy, "22", "2222", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.fleet.ReloadPolicyFile(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.admin("GET", wire.PathAdminPolicy+"/versions", nil, &vs)
	if len(vs) != 2 || !strings.HasPrefix(vs[0].Author, "file:") {
		t.Fatalf("versions after reload: %+v", vs)
	}
}

func TestEphemeralNodeRemovedAfterGrace(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.EphemeralGrace = 200 * time.Millisecond })
	var k wire.AuthKey
	c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Ephemeral: true}, &k)
	m := newMachine(t)
	if code, _ := c.register(m, k.Key, "eph"); code != 200 {
		t.Fatalf("register: %d", code)
	}
	s := c.openMap(m, 0)
	s.next()
	s.resp.Body.Close()
	var nodes []wire.AdminNode
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		nodes = nil
		c.admin("GET", wire.PathAdminNodes, nil, &nodes)
		if len(nodes) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ephemeral node still registered after going offline: %+v", nodes)
}
