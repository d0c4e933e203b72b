//go:build !ward_omit_admin

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// runAdmin runs `ward admin args...` with a dialer that records what it
// is asked to dial and connects nowhere, and returns the addresses
// dialled and the command's error.
func runAdmin(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	var mu sync.Mutex
	var dialed []string
	f := &adminFlags{dial: func(_ context.Context, _, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dialed = append(dialed, addr)
		return nil, errors.New("test dialer: no network")
	}}
	cmd := adminCmd(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(t.Context())
	mu.Lock()
	defer mu.Unlock()
	return dialed, err
}

// TestAdminRefusesPlainHTTPToNonLoopback: `ward admin` sends an API key
// with every request, so it refuses a plain http coordinator that is not
// on loopback, before it dials anything, saying why; loopback, https, and
// --dev-insecure-http (the node's flag for the same choice) get as far as
// dialling, here into a dialer that connects nowhere.
func TestAdminRefusesPlainHTTPToNonLoopback(t *testing.T) {
	t.Setenv("WARD_API_KEY", "wak_test_not_a_real_key")
	for _, u := range []string{"http://192.0.2.1:8080", "http://[2001:db8::1]:8080", "http://coordinator.example.com", "HTTP://192.0.2.1/"} {
		dialed, err := runAdmin(t, "--coordinator", u, "nodes", "list")
		if err == nil || !strings.Contains(err.Error(), "plain http") || !strings.Contains(err.Error(), "--dev-insecure-http") || len(dialed) > 0 {
			t.Errorf("ward admin --coordinator %s: %v, dialled %v; want a refusal naming --dev-insecure-http and no dial", u, err, dialed)
		}
	}
	for _, u := range []string{"ftp://192.0.2.1", "192.0.2.1:8080", "http://user:pw@127.0.0.1:8080"} {
		if dialed, err := runAdmin(t, "--coordinator", u, "nodes", "list"); err == nil || !strings.Contains(err.Error(), "--coordinator") || len(dialed) > 0 {
			t.Errorf("ward admin --coordinator %s: %v, dialled %v; want a refusal and no dial", u, err, dialed)
		}
	}
	for _, args := range [][]string{
		{"--coordinator", "http://127.0.0.1:8080"},
		{"--coordinator", "http://localhost:8080"},
		{"--coordinator", "http://[::1]:8080"},
		{"--coordinator", "https://192.0.2.1:8443"},
		{"--coordinator", "http://192.0.2.1:8080", "--dev-insecure-http"},
	} {
		dialed, err := runAdmin(t, append(args, "nodes", "list")...)
		if err == nil || strings.Contains(err.Error(), "plain http") || len(dialed) == 0 {
			t.Errorf("ward admin %s: %v, dialled %v; want it to dial (into the test dialer)", strings.Join(args, " "), err, dialed)
		}
	}
}

// TestAdminFollowsNoRedirect: the admin API never redirects, so a
// redirect (a downgrade to plain http, another host) is an error, and the
// API key is never sent where it points.
func TestAdminFollowsNoRedirect(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		w.Write([]byte("[]"))
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	t.Setenv("WARD_API_KEY", "wak_test_not_a_real_key")
	cmd := adminCmd(&adminFlags{})
	cmd.SetArgs([]string{"--coordinator", redirector.URL, "nodes", "list"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(t.Context())
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("nodes list through a redirect: %v, want the 307 as an error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the redirect was followed; the target got Authorization %q", leaked)
	}
}
