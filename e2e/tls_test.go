package e2e

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	return nodetest.WriteCert(t, dir, netip.MustParseAddr("127.0.0.1"))
}

// Nodes register and pass traffic with the coordinator over TLS 1.3; plain
// HTTP off loopback, or without --dev, is refused.
func TestCoordinatorOverTLS(t *testing.T) {
	ssh := echoServer(t)
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	f := newFleet(t, fleetPolicy(ssh), func(c *assembly.Config) { c.Dev, c.TLSCert, c.TLSKey = false, cert, key })
	if !strings.HasPrefix(f.url(), "http://") {
		t.Fatal("unexpected url")
	}
	https := "https://" + f.Addr
	start := func(name, k string, expose ...uint16) *agent {
		return &agent{name: name, Agent: nodetest.StartAgent(t, node.AgentConfig{StateDir: filepath.Join(dir, name),
			Coordinator: https, AuthKey: k, CAFile: cert, Expose: expose, Hostname: name, Logger: f.logs.logger(name)})}
	}
	f.apiClientTLS(cert)
	start("cam1", f.authKey("tag:camera"), ssh)
	op := start("op1", f.authKey("tag:operator"))
	waitFor(t, "flow over a TLS-controlled overlay", func() bool { return op.roundTrip("cam1", ssh) == nil })

	for _, bad := range []coordinator.Config{
		{DataDir: filepath.Join(dir, "x"), Listen: "127.0.0.1:0"},                // no TLS, no --dev
		{DataDir: filepath.Join(dir, "y"), Listen: "0.0.0.0:0", Dev: true},       // dev off loopback
		{DataDir: filepath.Join(dir, "z"), Listen: "127.0.0.1:0", TLSCert: cert}, // half a TLS config
	} {
		if _, err := coordinator.New(t.Context(), bad); err == nil {
			t.Errorf("coordinator accepted an unsafe transport config: %+v", bad)
		}
	}
}

// TestAdminTrustsPrivateCA: `ward admin` reaches a coordinator whose
// certificate comes from a private CA once told with --ca-file or
// WARD_CA_FILE, the same flag nodes take; without it the error points
// there.
func TestAdminTrustsPrivateCA(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	f := newFleet(t, fleetPolicy(1), func(c *assembly.Config) { c.Dev, c.TLSCert, c.TLSKey = false, cert, key })
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	admin := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(binary(t), append([]string{"admin", "--coordinator", "https://" + f.Addr, "--api-key-file", keyFile}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := admin(nil, "nodes", "list"); err == nil || !strings.Contains(out, "--ca-file") {
		t.Errorf("without the CA: %v %s; want a failure pointing at --ca-file", err, out)
	}
	if out, err := admin(nil, "--ca-file", cert, "nodes", "list"); err != nil || !strings.Contains(out, "NAME") {
		t.Errorf("with --ca-file: %v %s", err, out)
	}
	if out, err := admin([]string{"WARD_CA_FILE=" + cert}, "policy", "get"); err != nil || !strings.Contains(out, "acls") {
		t.Errorf("with WARD_CA_FILE: %v %s", err, out)
	}
}
