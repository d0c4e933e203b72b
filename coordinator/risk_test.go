package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// riskTestPolicy lets operators reach cameras, but not the critical ones.
const riskTestPolicy = `{
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "riskClasses": [{"name": "critical", "mfaWithin": "15m", "alertSeverity": "critical"}, "sensitive", "standard"],
  "acls": [
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:*"]},
    {"action": "deny", "src": ["tag:operator"], "dst": ["risk:critical:*"]},
  ],
}`

// TestAdminClassifiesNodeRiskClass pins issue 17's device classes at the
// coordinator, through its HTTP API as any client would call it: a
// pre-auth key's class goes to its nodes; an admin classifies a node, the
// class shows (and filters) in the inventory, moves the node under the
// policy's risk: rules in its map at once, and is audited; a class the
// policy does not define is refused, for a node and for a key, changing
// nothing.
func TestAdminClassifiesNodeRiskClass(t *testing.T) {
	c := startCoord(t, riskTestPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	ms := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	if f := ms.next().Filter; len(f) != 1 || f[0].Deny {
		t.Fatalf("an unclassified camera's filter = %+v; want the one accept", f)
	}

	var n wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"/cam1", nil, &n); code != 200 || n.RiskClass != "standard" || n.RiskClassSet != "" {
		t.Errorf("unclassified camera: %d, class %q (set %q); want the default, standard", code, n.RiskClass, n.RiskClassSet)
	}
	if code := c.admin("PUT", wire.PathAdminNodes+"/cam1/risk", wire.SetRiskClassRequest{Class: "bogus"}, nil); code != http.StatusBadRequest {
		t.Errorf("classify as an undefined class: %d, want 400", code)
	}
	if code := c.admin("PUT", wire.PathAdminNodes+"/cam1/risk", wire.SetRiskClassRequest{Class: "critical"}, &n); code != 200 || n.RiskClass != "critical" {
		t.Fatalf("classify: %d %+v", code, n)
	}
	for {
		m := ms.next()
		if m.FilterChanged || m.Full {
			if len(m.Filter) != 2 || !m.Filter[1].Deny {
				t.Errorf("the critical camera's filter = %+v; want the accept and the deny", m.Filter)
			}
			break
		}
	}

	var critical []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"?risk=critical", nil, &critical); code != 200 || len(critical) != 1 || critical[0].Name != "cam1" {
		t.Errorf("nodes filtered by risk=critical: %d %+v", code, critical)
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=node.classify", nil, &evs)
	if len(evs) != 1 || evs[0].Target != "node:cam1" {
		t.Errorf("classify audit = %+v; want one event on node:cam1", evs)
	}

	var k wire.AuthKey
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, RiskClass: "nope"}, nil); code != http.StatusBadRequest {
		t.Errorf("a key with an undefined class: %d, want 400", code)
	}
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, RiskClass: "critical"}, &k); code != 201 || k.RiskClass != "critical" {
		t.Fatalf("create a critical key: %d %+v", code, k)
	}
	if code, _ := c.register(newMachine(t), k.Key, "cam2"); code != 200 {
		t.Fatalf("register with the critical key: %d", code)
	}
	if code := c.admin("GET", wire.PathAdminNodes+"/cam2", nil, &n); code != 200 || n.RiskClass != "critical" || n.RiskClassSet != "critical" {
		t.Errorf("a node of the critical key: %d, class %q", code, n.RiskClass)
	}
}

// TestPersonReachingCriticalGetsShorterKey pins issue 17's keyLifetime
// requirement: a person whom the policy lets reach a device of a class
// with a keyLifetime logs in with a key that lives at most that long.
func TestPersonReachingCriticalGetsShorterKey(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	pol := `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [{"name": "critical", "keyLifetime": "1h"}, "standard"],
  "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["risk:critical:22"]}],
}`
	if err := os.WriteFile(pf, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) { cfg.PolicyFile = pf })
	start := time.Now()
	_, name := c.personMachine(alice, "alice-laptop")
	var n wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"/"+name, nil, &n); code != 200 {
		t.Fatalf("get %s: %d", name, code)
	}
	if life := n.KeyExpiry.Sub(start); life > time.Hour+time.Minute || life < 50*time.Minute {
		t.Errorf("alice's key lives %v; want the critical class's 1h", life)
	}
	if n.KeyLifetime() != time.Hour {
		t.Errorf("the admin API's key lifetime of alice's node = %v, want 1h", n.KeyLifetime())
	}
}
