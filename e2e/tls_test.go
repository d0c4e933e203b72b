package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ward-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(priv)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
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
