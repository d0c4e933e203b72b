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
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
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

// fleet is one test's coordinator and nodes; its logs are searched for
// secrets when the test ends.
type fleet struct {
	*nodetest.Coordinator
	t       *testing.T
	dir     string
	logs    *logSink
	secrets []string
}

func newFleet(t *testing.T, policy string, tweak func(*assembly.Config)) *fleet {
	t.Helper()
	// Build the ward binary (once per package run) before any key's
	// lifetime starts: a test that runs `ward nc` after a login with a
	// 12 s key must not spend that key on a compile under load.
	binary(t)
	f := &fleet{t: t, dir: t.TempDir(), logs: &logSink{}}
	f.Coordinator = nodetest.StartCoordinator(t, policy, func(c *assembly.Config) {
		c.Logger = f.logs.logger("coordinator")
		if tweak != nil {
			tweak(c)
		}
	})
	f.secrets = append(f.secrets, f.APIKey)
	t.Cleanup(func() {
		f.Stop()
		f.checkNoSecretsInLogs()
		f.dumpLogsOnFailure()
	})
	return f
}

// url is the coordinator's URL as nodes on loopback in dev mode reach it.
func (f *fleet) url() string { return "http://" + f.Addr }

// apiClientTLS makes the admin client trust cert.
func (f *fleet) apiClientTLS(cert string) {
	pem, err := os.ReadFile(cert)
	if err != nil {
		f.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	f.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
}

// authKey mints a pre-auth key for tags; the logs must never show it.
func (f *fleet) authKey(tags ...string) string {
	f.t.Helper()
	k := f.AuthKey(tags...)
	f.secrets = append(f.secrets, k)
	return k
}

// dumpLogsOnFailure writes the logs of every part of a failed test to
// $WARD_E2E_LOGS/<test>.log when that variable names a directory, and
// prints their last lines, so an intermittent failure can be read after
// the fact. WARD_E2E_LOGS_ALWAYS=1 writes them for passing tests too.
func (f *fleet) dumpLogsOnFailure() {
	if !f.t.Failed() && os.Getenv("WARD_E2E_LOGS_ALWAYS") == "" {
		return
	}
	logs := f.logs.String()
	for _, s := range f.secrets {
		if s != "" {
			logs = strings.ReplaceAll(logs, s, "[secret]")
		}
	}
	if dir := os.Getenv("WARD_E2E_LOGS"); dir != "" {
		name := filepath.Join(dir, strings.ReplaceAll(f.t.Name(), "/", "_")+"."+time.Now().Format("150405.000")+".log")
		if err := os.WriteFile(name, []byte(logs), 0o600); err == nil {
			f.t.Logf("logs of the failed test: %s", name)
		}
	}
	const tail = 60
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	f.t.Logf("last %d log lines:\n%s", len(lines), strings.Join(lines, "\n"))
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
	*nodetest.Agent
	name string
}

type agentOpts struct {
	expose      []uint16
	rotateEvery time.Duration
	// clock is the node's clock; nil: time.Now.
	clock func() time.Time
	// endpoints are the UDP endpoints the node announces; nil: its own.
	endpoints []netip.AddrPort
	// homeRelay pins the node's home relay; "": the nearest.
	homeRelay string
	// flowWindow is the flow log's window (read every twentieth of it);
	// 0: the defaults.
	flowWindow time.Duration
	// socks5 is the address of the node's SOCKS5 proxy; "": none.
	socks5 string
	// uapiName names the node's UAPI socket in node.DefaultUAPIDir; "":
	// none.
	uapiName string
	// watchPoll is how often the node reads its watched logs and looks
	// at its watched files; 0: the default.
	watchPoll time.Duration
	// watchLogsUnder are the directories whose logs the node may follow;
	// nil: /var/log.
	watchLogsUnder []string
}

// startAgent starts a node registered with key (or from its state dir).
func (f *fleet) startAgent(name, key, dir string, o agentOpts) *agent {
	f.t.Helper()
	if dir == "" {
		dir = filepath.Join(f.dir, "node-"+name)
	}
	return &agent{name: name, Agent: nodetest.StartAgent(f.t, node.AgentConfig{StateDir: dir, Coordinator: f.url(), AuthKey: key,
		AllowInsecureHTTP: true, Expose: o.expose, Hostname: name, Version: "e2e", RotateEvery: o.rotateEvery,
		Logger: f.logs.logger(name), Clock: o.clock, Endpoints: o.endpoints, HomeRelay: o.homeRelay, SOCKS5: o.socks5, UAPIName: o.uapiName,
		FlowWindow: o.flowWindow, FlowPoll: o.flowWindow / 20, WatchPoll: o.watchPoll, WatchLogsUnder: o.watchLogsUnder})}
}

// directWait bounds a wait for a direct path: discovery rounds back off
// from 1 s to 16 s apart (node's discoverMin, discoverMax), so a pair
// whose first rounds failed on a loaded machine finds it after five or six
// rounds, 31-47 s in.
const directWait = 60 * time.Second

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return nodetest.Eventually(t, 20*time.Second, what, cond)
}

// hasPeer reports whether ag's map lists peer.
func (ag *agent) hasPeer(peer string) bool {
	_, _, err := ag.Engine().Resolve(peer)
	return err == nil
}

// dial opens a TCP connection through the overlay with a short timeout.
func (ag *agent) dial(peer string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	return ag.DialPeer(ctx, peer, port)
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

// echoWithin writes a line and expects it back within d.
func echoWithin(c net.Conn, msg string, d time.Duration) error { return nodetest.Echo(c, msg+"\n", d) }

// echoServer serves TCP echo on 127.0.0.1 and returns its port.
func echoServer(t *testing.T) uint16 { return nodetest.EchoServer(t) }
