package coordinator

import (
	"net/http"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestAPIKeyWithoutPolicyScopeCannotSavePolicy pins issue 17's scoped API
// keys, called directly over HTTP as a script would: a key made without
// scopes (read only) reads the policy but cannot save it; one with the
// policy scope can, but cannot mint pre-auth keys; a key cannot make a
// key with a scope it lacks itself; the bootstrap key keeps every right.
func TestAPIKeyWithoutPolicyScopeCannotSavePolicy(t *testing.T) {
	c := startDevCoord(t)
	mint := func(token string, scopes ...string) (int, wire.APIKey) {
		t.Helper()
		var k wire.APIKey
		code, b := c.call("POST", wire.PathAdminAPIKeys, token, wire.CreateAPIKeyRequest{Description: "ci", Scopes: scopes})
		if code == http.StatusCreated {
			jsonUnmarshal(t, b, &k)
		}
		return code, k
	}
	code, plain := mint(c.apiKey)
	if code != http.StatusCreated || len(plain.Scopes) != 1 || plain.Scopes[0] != "read" {
		t.Fatalf("a key made without scopes: %d %+v; want scopes [read]", code, plain)
	}
	_, pol := mint(c.apiKey, "policy")
	var cur wire.PolicyVersion
	if code, b := c.call("GET", wire.PathAdminPolicy, plain.Key, nil); code != http.StatusOK {
		t.Fatalf("the read key reads the policy: %d %s", code, b)
	} else {
		jsonUnmarshal(t, b, &cur)
	}
	save := wire.SetPolicyRequest{Text: cur.Text, ParentID: cur.ID}
	if code, b := c.call("PUT", wire.PathAdminPolicy, plain.Key, save); code != http.StatusForbidden {
		t.Errorf("a key without the policy scope saves the policy: %d %s; want 403", code, b)
	}
	if code, b := c.call("PUT", wire.PathAdminPolicy, pol.Key, save); code != http.StatusOK {
		t.Errorf("a key with the policy scope saves the policy: %d %s; want 200", code, b)
	}
	if code, b := c.call("POST", wire.PathAdminAuthKeys, pol.Key, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}); code != http.StatusForbidden {
		t.Errorf("a policy-scoped key mints a pre-auth key: %d %s; want 403", code, b)
	}
	_, keys := mint(c.apiKey, "apikeys")
	if code, _ := mint(keys.Key, "admin"); code != http.StatusForbidden {
		t.Errorf("an apikeys-scoped key makes an admin-scoped key: %d; want 403", code)
	}
	if code, k := mint(keys.Key, "apikeys", "read"); code != http.StatusCreated {
		t.Errorf("an apikeys-scoped key makes a key within its scopes: %d %+v", code, k)
	}
	if code, _ := mint(c.apiKey, "everything"); code != http.StatusBadRequest {
		t.Errorf("an unknown scope: %d; want 400", code)
	}
}
