//go:build !ward_omit_relay

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// TestRelayCommandRefusesUnsafeFlags: `ward relay` serves node tokens,
// so plain HTTP is only for --dev on loopback, and it needs a credential
// and a coordinator it may send that credential to.
func TestRelayCommandRefusesUnsafeFlags(t *testing.T) {
	t.Setenv("WARD_RELAY_CREDENTIAL", "wrl_test_not_a_real_one")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0", "--dev"}, "--coordinator is required"},
		{[]string{"--coordinator", "http://192.0.2.1:8080", "--listen", "127.0.0.1:0", "--dev"}, "plain http"},
		{[]string{"--coordinator", "http://127.0.0.1:1", "--listen", "0.0.0.0:0", "--dev"}, "without TLS"},
		{[]string{"--coordinator", "http://127.0.0.1:1", "--listen", "127.0.0.1:0"}, "without TLS"},
		{[]string{"--coordinator", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--tls-cert", "c.pem"}, "go together"},
	} {
		cmd := newRelayCmd()
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ward relay %s: %v, want an error saying %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	t.Setenv("WARD_RELAY_CREDENTIAL", "")
	cmd := newRelayCmd()
	cmd.SetArgs([]string{"--coordinator", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--dev"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "no relay credential") {
		t.Errorf("ward relay without a credential: %v", err)
	}
}

// TestRelayCommandRunsRegisteredRelay: `ward admin relays add` prints a
// credential with which `ward relay` holds its feed (the coordinator
// lists it connected, its /healthz answers), and `ward admin relays
// remove` ends it.
func TestRelayCommandRunsRegisteredRelay(t *testing.T) {
	c := nodetest.StartCoordinator(t, `{"tagOwners": {"tag:camera": []}, "acls": []}`, nil)
	t.Setenv("WARD_API_KEY", c.APIKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	admin := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := newAdminCmd()
		cmd.SetArgs(append([]string{"--coordinator", c.URL()}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("ward admin %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	secret := strings.TrimSpace(admin("relays", "add", "edge1", "--url", "ws://"+addr+wire.PathRelay))
	cred := filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(cred, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		cmd := newRelayCmd()
		cmd.SetArgs([]string{"--coordinator", c.URL(), "--listen", addr, "--dev", "--credential-file", cred, "--name", "edge1"})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		done <- cmd.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ward relay: %v", err)
		}
	}()
	nodetest.Eventually(t, 10*time.Second, "the relay's /healthz answers 200", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	var rs []wire.AdminRelay
	if err := json.Unmarshal([]byte(admin("--json", "relays", "list")), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Name != "edge1" || !rs[0].Connected || rs[0].Secret != "" {
		t.Fatalf("relays list: %+v, want edge1 connected and no secret", rs)
	}
	admin("relays", "remove", "edge1")
	nodetest.Eventually(t, 10*time.Second, "the removed relay's /healthz answers 503", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
}
