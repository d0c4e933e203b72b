package control_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// TestControlFollowsNoRedirect: the control API never redirects, so a
// node answers a redirect with an error and sends nothing (no machine-key
// proof, no session token) where it points.
func TestControlFollowsNoRedirect(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "not here", http.StatusTeapot)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	mk, err := wire.NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := control.New(control.Config{URL: redirector.URL, AllowInsecureHTTP: true, MachineKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(t.Context(), wire.RegisterRequest{AuthKey: "wak_not_real"}); err == nil {
		t.Error("register through a redirect succeeded")
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect was followed: the target got %d requests", n)
	}
}
