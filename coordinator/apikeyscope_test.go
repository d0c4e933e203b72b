package coordinator

import (
	"net/http"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
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

// TestAPIKeyUseRecordedAtMostEveryMinute: a call records its key's "last
// used" time only when the record is apiKeyTouchEvery old (or in the
// future: a clock that was wrong), so a script's calls do not each wait
// for the database's writer.
func TestAPIKeyUseRecordedAtMostEveryMinute(t *testing.T) {
	c := startDevCoord(t)
	var k wire.APIKey
	if code, b := c.call("POST", wire.PathAdminAPIKeys, c.apiKey, wire.CreateAPIKeyRequest{Description: "poller"}); code != http.StatusCreated {
		t.Fatalf("mint a key: %d %s", code, b)
	} else {
		jsonUnmarshal(t, b, &k)
	}
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := c.srv.st.ListAPIKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range keys {
			if int64(s.ID) == k.ID {
				return s.LastUsed
			}
		}
		t.Fatalf("key %d not listed", k.ID)
		return time.Time{}
	}
	get := func() {
		t.Helper()
		if code, b := c.call("GET", wire.PathAdminPolicy, k.Key, nil); code != http.StatusOK {
			t.Fatalf("GET policy: %d %s", code, b)
		}
	}
	get()
	first := lastUsed()
	if first.IsZero() {
		t.Fatal("the first call recorded no use")
	}
	get()
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("a second call within a minute wrote the use again: %v, was %v", got, first)
	}
	for _, at := range []time.Time{time.Now().Add(-apiKeyTouchEvery - time.Second), time.Now().Add(time.Hour)} {
		if err := c.srv.st.TouchAPIKey(t.Context(), store.APIKeyID(k.ID), at.UTC()); err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Second)
		get()
		if got := lastUsed(); got.Before(before) || got.After(time.Now().Add(time.Second)) {
			t.Errorf("a call after a last use at %v recorded %v, want about now", at, got)
		}
	}
}
