package nodetest

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

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/wire"
)

// Coordinator is a real coordinator serving on a loopback port that stays
// the same across Restart.
type Coordinator struct {
	t testing.TB
	// Config is the coordinator's configuration, with the development
	// IdP's (package assembly puts them together); Restart uses it again.
	Config assembly.Config
	// Addr is host:port.
	Addr string
	// Server is the running server, with its admin UI and development
	// IdP; nil while stopped.
	Server *assembly.Coordinator
	// APIKey is the bootstrap admin API key.
	APIKey string
	// HTTP calls the admin API; nil means http.DefaultClient (set it to
	// trust the certificate of a TLS coordinator).
	HTTP *http.Client

	stop context.CancelFunc
	done chan error
}

// StartCoordinator starts a coordinator in development mode with policy
// (the text of a policy file), SQLite in a temporary directory, a 2 s
// keep-alive, a 300 ms denied-flow window and logs shown when the test
// fails; tweak (may be nil) changes the configuration first (its Listen is
// already set, a free port on 127.0.0.1; a tweak may listen elsewhere). It
// stops when the test ends.
func StartCoordinator(t testing.TB, policy string, tweak func(*assembly.Config)) *Coordinator {
	t.Helper()
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.hujson")
	if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Coordinator{t: t, Addr: addr}
	c.Config = assembly.Config{Config: coordinator.Config{DataDir: filepath.Join(dir, "coord"), Listen: addr, Dev: true, PolicyFile: pf,
		KeepAlive: 2 * time.Second, MaxKeepAlive: 2 * time.Second, DeniedWindow: 300 * time.Millisecond}}
	if tweak != nil {
		tweak(&c.Config)
		c.Addr = c.Config.Listen // a tweak may pick another address
	}
	if c.Config.Logger == nil {
		c.Config.Logger = Logger(t, "coordinator")
	}
	c.Start()
	t.Cleanup(c.Stop)
	key, err := os.ReadFile(filepath.Join(c.Config.DataDir, coordinator.BootstrapKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c.APIKey = strings.TrimSpace(string(key))
	return c
}

// URL is the coordinator's base URL.
func (c *Coordinator) URL() string { return c.scheme() + "://" + c.Addr }

func (c *Coordinator) scheme() string {
	if c.Config.TLSCert != "" {
		return "https"
	}
	return "http"
}

// Start starts the coordinator on Addr with Config; the port may linger
// for a moment after Stop.
func (c *Coordinator) Start() {
	c.t.Helper()
	srv, err := assembly.New(context.Background(), c.Config)
	if err != nil {
		c.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", c.Addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		srv.Close()
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Server, c.stop, c.done = srv, cancel, make(chan error, 1)
	go func() { c.done <- srv.Serve(ctx, ln) }()
}

// Stop stops the coordinator; it is idempotent.
func (c *Coordinator) Stop() {
	if c.Server == nil {
		return
	}
	c.stop()
	<-c.done
	c.Server.Close()
	c.Server = nil
}

// Restart stops the coordinator and starts a new one on the same address
// and data: it keeps its store and forgets what it held in memory
// (control sessions, pending logins).
func (c *Coordinator) Restart() {
	c.t.Helper()
	c.Stop()
	c.Start()
}

// Admin calls the admin API with the bootstrap key and decodes a 2xx
// answer into out (may be nil). It returns the status and the body, as an
// attacker's client would see them; it fails the test when no answer came.
func (c *Coordinator) Admin(method, path string, in, out any) (int, string) {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.URL()+path, body)
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, string(b)
}

func (c *Coordinator) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// AuthKey mints a pre-auth key for tags through the admin API.
func (c *Coordinator) AuthKey(tags ...string) string {
	c.t.Helper()
	var k wire.AuthKey
	if code, body := c.Admin(http.MethodPost, wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: tags}, &k); code != http.StatusCreated {
		c.t.Fatalf("create auth key: %d %s", code, body)
	}
	return k.Key
}
