package coordinator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestDomainErrorsMapOnceAtEachEdge: the coordinator's errors reach the
// admin API (package web, over Backend) and the control API with the
// status of their kind, each mapped once, and without a status-named
// prefix added on the way: an unknown key to revoke is a 404 (it was a
// 500), a tag outside the policy a 400, a stale policy edit a 409.
func TestDomainErrorsMapOnceAtEachEdge(t *testing.T) {
	c := startCoord(t, testPolicy)
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	tests := []struct {
		method, path, token string
		body                any
		code                int
		says                string
	}{
		{"DELETE", wire.PathAdminAuthKeys + "/999", c.apiKey, nil, http.StatusNotFound, "revoke auth key 999: not found"},
		{"DELETE", wire.PathAdminAPIKeys + "/999", c.apiKey, nil, http.StatusNotFound, "revoke api key 999: not found"},
		{"GET", wire.PathAdminNodes + "/nope", c.apiKey, nil, http.StatusNotFound, "not found"},
		{"POST", wire.PathAdminAuthKeys, c.apiKey, wire.CreateAuthKeyRequest{Tags: []string{"tag:ghost"}}, http.StatusBadRequest,
			`tag "tag:ghost" has no entry in the policy's tagOwners`},
		{"PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: testPolicy, ParentID: 99}, http.StatusConflict, "was saved since version 99"},
		{"GET", wire.PathAdminNodes, "wak_made_up", nil, http.StatusUnauthorized, "invalid or expired token"},
		// The control API, on the same errors' kinds.
		{"POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: "wpk_made_up", WGKey: m.wg.Public()}, http.StatusForbidden, "auth key not found"},
		{"POST", wire.PathRotate, "made-up", wire.RotateRequest{WGKey: m.wg.Public()}, http.StatusUnauthorized, "invalid or expired token"},
	}
	for _, tt := range tests {
		code, b := c.call(tt.method, tt.path, tt.token, tt.body)
		var e wire.Error
		json.Unmarshal(b, &e)
		if code != tt.code || !strings.Contains(e.Error, tt.says) {
			t.Errorf("%s %s: %d %s, want %d saying %q", tt.method, tt.path, code, b, tt.code, tt.says)
		}
		kind := strings.ToLower(http.StatusText(code)) + ": " // what the old mapping prefixed
		if strings.HasPrefix(e.Error, kind) && strings.Contains(e.Error[len(kind):], strings.TrimSuffix(kind, ": ")) {
			t.Errorf("%s %s: %q repeats its kind", tt.method, tt.path, e.Error)
		}
	}
}
