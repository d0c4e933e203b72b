// Package e2e holds Ward's end-to-end tests: a real coordinator (its HTTP
// API on a loopback port, SQLite in a temp dir) and real node agents
// (wireguard-go over Ward's netstack, UDP on loopback) passing real TCP
// traffic.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/wire"
)

// logSink collects every log line of a test so it can be searched for
// secrets afterwards.
type logSink struct {
	mu  sync.Mutex // mu guards buf
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) logger(who string) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})).With("who", who)
}

// fleet is one test's coordinator and nodes.
type fleet struct {
	t       *testing.T
	dir     string
	addr    string // coordinator host:port, stable across restarts
	cfg     coordinator.Config
	logs    *logSink
	secrets []string

	// http calls the admin API; nil means http.DefaultClient.
	http *http.Client

	srv    *coordinator.Server
	stop   context.CancelFunc
	done   chan error
	apiKey string
}

func newFleet(t *testing.T, policy string, tweak func(*coordinator.Config)) *fleet {
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
	f := &fleet{t: t, dir: dir, addr: addr, logs: &logSink{}}
	f.cfg = coordinator.Config{DataDir: filepath.Join(dir, "coord"), Listen: addr, Dev: true, PolicyFile: pf,
		KeepAlive: 2 * time.Second, DeniedWindow: 300 * time.Millisecond, Logger: f.logs.logger("coordinator")}
	if tweak != nil {
		tweak(&f.cfg)
	}
	f.startCoordinator()
	key, err := os.ReadFile(filepath.Join(f.cfg.DataDir, coordinator.BootstrapKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	f.apiKey = strings.TrimSpace(string(key))
	f.secrets = append(f.secrets, f.apiKey)
	t.Cleanup(func() {
		f.stopCoordinator()
		f.checkNoSecretsInLogs()
	})
	return f
}

func (f *fleet) url() string { return "http://" + f.addr }

// scheme is "https" when the coordinator serves TLS.
func (f *fleet) scheme() string {
	if f.cfg.TLSCert != "" {
		return "https"
	}
	return "http"
}

// apiClientTLS makes the admin client trust cert.
func (f *fleet) apiClientTLS(cert string) {
	pem, err := os.ReadFile(cert)
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	f.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func (f *fleet) startCoordinator() {
	f.t.Helper()
	srv, err := coordinator.New(context.Background(), f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.srv, f.stop, f.done = srv, cancel, make(chan error, 1)
	var ln net.Listener
	for i := 0; ; i++ { // the port may linger briefly after a restart
		ln, err = net.Listen("tcp", f.addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	go func() { f.done <- srv.Serve(ctx, ln) }()
}

func (f *fleet) stopCoordinator() {
	if f.srv == nil {
		return
	}
	f.stop()
	<-f.done
	f.srv.Close()
	f.srv = nil
}

// admin calls the admin API; out may be nil.
func (f *fleet) admin(method, path string, in, out any) (int, string) {
	f.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.scheme()+"://"+f.addr+path, body)
	req.Header.Set("Authorization", "Bearer "+f.apiKey)
	client := f.http
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, string(b)
}

func (f *fleet) authKey(tags ...string) string {
	f.t.Helper()
	var k wire.AuthKey
	if code, body := f.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: tags}, &k); code != 201 {
		f.t.Fatalf("create auth key: %d %s", code, body)
	}
	f.secrets = append(f.secrets, k.Key)
	return k.Key
}

// checkNoSecretsInLogs fails the test when any key or token appears in the
// collected logs.
func (f *fleet) checkNoSecretsInLogs() {
	logs := f.logs.String()
	for _, s := range f.secrets {
		if s != "" && strings.Contains(logs, s) {
			f.t.Errorf("a secret (%s...) appears in the logs", s[:8])
		}
	}
	if strings.Contains(logs, "wst_") {
		f.t.Errorf("a session token appears in the logs")
	}
}

// agent is a running node agent.
type agent struct {
	name   string
	a      *node.Agent
	cancel context.CancelFunc
	done   chan error
	dir    string
}

type agentOpts struct {
	expose      []uint16
	rotateEvery time.Duration
	// clock is the node's clock; nil: time.Now.
	clock func() time.Time
}

// startAgent starts a node registered with key (or from its state dir).
func (f *fleet) startAgent(name, key, dir string, o agentOpts) *agent {
	f.t.Helper()
	if dir == "" {
		dir = filepath.Join(f.dir, "node-"+name)
	}
	a, err := node.NewAgent(node.AgentConfig{StateDir: dir, Coordinator: f.url(), AuthKey: key, AllowInsecureHTTP: true,
		Expose: o.expose, Hostname: name, Version: "e2e", RotateEvery: o.rotateEvery, Logger: f.logs.logger(name), Clock: o.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ag := &agent{name: name, a: a, cancel: cancel, done: make(chan error, 1), dir: dir}
	go func() { ag.done <- a.Run(ctx) }()
	f.t.Cleanup(ag.stop)
	return ag
}

func (ag *agent) stop() {
	if ag.cancel != nil {
		ag.cancel()
		<-ag.done
		ag.cancel = nil
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return 0
}

// hasPeer reports whether ag's map lists peer.
func (ag *agent) hasPeer(peer string) bool {
	_, _, err := ag.a.Engine().Resolve(peer)
	return err == nil
}

// dial opens a TCP connection through the overlay with a short timeout.
func (ag *agent) dial(peer string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	return ag.a.DialPeer(ctx, peer, port)
}

// roundTrip dials peer:port, writes a line and expects it echoed.
func (ag *agent) roundTrip(peer string, port uint16) error {
	c, err := ag.dial(peer, port)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, "hello "+peer)
}

func echo(c net.Conn, msg string) error { return echoWithin(c, msg, 3*time.Second) }

func echoWithin(c net.Conn, msg string, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintln(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg+"\n" {
		return errors.New("echo mismatch")
	}
	return nil
}

// echoServer serves TCP echo on 127.0.0.1 and returns its port.
func echoServer(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
