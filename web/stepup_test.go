package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// TestStepUpWindowEndsFleetChanges pins the admin step-up on the server:
// with a 15 min window, the owner (whose login showed a second factor)
// mints a pre-auth key through the API and a page form; 16 minutes later
// the API refuses the same call with 401 naming the step-up, and the form
// is sent to the step-up login, which returns to the page; reading is
// still allowed. An admin whose login showed no second factor is refused
// at once. API keys are not people: their scopes decide, not the window.
func TestStepUpWindowEndsFleetChanges(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.StepUp = 15 * time.Minute })
	key := `{"tags":["tag:camera"]}`
	owner := e.login(admin.RoleOwner)
	if resp := owner.api("POST", wire.PathAdminAuthKeys, key, true); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the owner mints a key right after a login with a second factor: %s %s", resp.Status, readBody(t, resp))
	}
	e.clock.Advance(16 * time.Minute)
	resp := owner.api("POST", wire.PathAdminAuthKeys, key, true)
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "/ui/login?step_up=1") {
		t.Errorf("16 minutes later: %s %s; want 401 naming the step-up login", resp.Status, body)
	}
	resp = owner.form("/ui/keys", map[string][]string{"tags": {"tag:camera"}}, true)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login?step_up=1") {
		t.Errorf("the page form 16 minutes later: %s to %q; want the step-up login", resp.Status, loc)
	}
	if resp := owner.do("GET", "/ui/keys", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("reading after the window: %s", resp.Status)
	}
	if resp := e.login(admin.RoleAdmin).api("POST", wire.PathAdminAuthKeys, key, true); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an admin without a second factor mints a key: %s; want 401", resp.Status)
	}
	if resp := e.anonymous().do("POST", wire.PathAdminAuthKeys, key, map[string]string{"Authorization": "Bearer " + ownerKey,
		"Content-Type": "application/json"}); resp.StatusCode != http.StatusCreated {
		t.Errorf("the owner's API key after the window: %s", resp.Status)
	}
}
