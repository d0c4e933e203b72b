//go:build linux

// Package nat runs issue 10's NAT scenarios end to end: the built ward
// binary as a coordinator (TLS on 443, its relay, STUN on UDP 3478 at both
// server addresses) in nattest's internet namespace, and as node agents in
// the host namespaces of NAT'd sites (EIM, symmetric, UDP blocked). The
// test process reaches a node's SOCKS5 proxy from inside the node's
// namespace (nattest's NS.Do), its local API through the socket in its
// state directory, and the coordinator's admin API from inside the
// internet. Every address is inside the test's namespaces.
package nat

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// The scenarios' ports and names.
const (
	// coordPort is the coordinator's TLS port: the only one a site that
	// blocks UDP needs.
	coordPort = 443
	// stunPort is the coordinator's STUN port on both server addresses.
	stunPort = 3478
	// openPort and closedPort are the echo services a node exposing them
	// serves: the policy lets tag:a reach openPort on tag:b and nothing
	// else.
	openPort, closedPort = 7001, 7002
	// socksAddr is where every node serves SOCKS5, inside its namespace.
	socksAddr = "127.0.0.1:1080"
	// poll is how often a wait looks again.
	poll = 20 * time.Millisecond
)

// policy lets tag:a reach tag:b on openPort; tag:c reaches no one.
var policy = fmt.Sprintf(`{
  "tagOwners": {"tag:a": [], "tag:b": [], "tag:c": []},
  "acls": [{"action": "accept", "src": ["tag:a"], "dst": ["tag:b:%d"]}],
}`, openPort)

// coordURL is the coordinator's URL as nodes reach it.
var coordURL = "https://" + netip.AddrPortFrom(nattest.ServerA, coordPort).String()

var build struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the binary wardBinary built once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

// wardBinary builds cmd/ward once per test process.
func wardBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "ward-nat-bin")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "ward")
		if out, err := exec.Command("go", "build", "-o", build.path, "github.com/wardnet/ward/cmd/ward").CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// proc is a ward process running inside a namespace; the test prints its
// output if it fails.
type proc struct {
	t    *testing.T
	ns   *nattest.NS
	name string
	args []string
	env  []string
	logs io.Writer
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc runs the ward binary with args inside ns until the test ends.
func startProc(t *testing.T, ns *nattest.NS, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, ns: ns, name: name, args: args, env: env, logs: nodetest.LogWriter(t, name)}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// start starts the process (again).
func (p *proc) start() {
	p.t.Helper()
	// "ip netns exec" execs ward after entering the namespace: the
	// process is ward itself, which kill signals.
	p.cmd = p.ns.Command(wardBinary(p.t), p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func() {
		p.cmd.Wait()
		close(done)
	}()
}

// kill ends the process at once and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// nsHTTP returns an HTTP client whose connections are opened inside ns,
// trusting roots, speaking HTTP/1.1 (as WebSocket needs).
func nsHTTP(ns *nattest.NS, roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialIn(ctx, ns, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
	}}
}

// dialIn opens a connection from inside ns.
func dialIn(ctx context.Context, ns *nattest.NS, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// world is one scenario's network: the internet with the coordinator,
// and the sites and nodes the scenario adds.
type world struct {
	t   *testing.T
	net *nattest.Net
	// dir holds the certificate and the coordinator's data.
	dir   string
	cert  string
	coord *proc
	// api is the admin API's client, from inside the internet.
	api    *http.Client
	apiKey string
}

// newWorld builds the network and starts the coordinator, or skips t
// where network namespaces cannot be made (nattest.New).
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, nattest.New(t))
}

// newWorldOn is newWorld on the network n.
func newWorldOn(t *testing.T, n *nattest.Net) *world {
	t.Helper()
	w := &world{t: t, net: n, dir: t.TempDir()}
	var key string
	w.cert, key = nodetest.WriteCert(t, w.dir, nattest.ServerA)
	pem, err := os.ReadFile(w.cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	w.api = nsHTTP(n.Internet, roots)
	policyFile := filepath.Join(w.dir, "policy.hujson")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(w.dir, "coordinator")
	w.coord = startProc(t, n.Internet, "coordinator", nil, "coordinator", "--data-dir", data,
		"--listen", netip.AddrPortFrom(nattest.ServerA, coordPort).String(), "--tls-cert", w.cert, "--tls-key", key,
		"--metrics-listen", "", "--policy", policyFile,
		"--stun-listen", netip.AddrPortFrom(nattest.ServerA, stunPort).String(),
		"--stun-listen-alt", netip.AddrPortFrom(nattest.ServerB, stunPort).String())
	w.waitCoordinator()
	b, err := os.ReadFile(filepath.Join(data, coordinator.BootstrapKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	w.apiKey = strings.TrimSpace(string(b))
	return w
}

// waitCoordinator waits until the coordinator answers its health check.
func (w *world) waitCoordinator() time.Duration {
	w.t.Helper()
	return waitFor(w.t, 20*time.Second, "the coordinator answers", func() bool {
		resp, err := w.api.Get(coordURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// admin calls the admin API and decodes a 2xx answer into out (may be
// nil); it returns the status and the body.
func (w *world) admin(method, path string, in, out any) (int, string) {
	w.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, coordURL+path, body)
	req.Header.Set("Authorization", "Bearer "+w.apiKey)
	resp, err := w.api.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, string(b)
}

// authKey mints a single-use pre-auth key for tag.
func (w *world) authKey(tag string) string {
	w.t.Helper()
	var k wire.AuthKey
	if code, body := w.admin(http.MethodPost, wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{tag}}, &k); code != http.StatusCreated {
		w.t.Fatalf("create auth key: %d %s", code, body)
	}
	return k.Key
}

// expire revokes node name's key, as `ward admin nodes expire` does.
func (w *world) expire(name string) {
	w.t.Helper()
	if code, body := w.admin(http.MethodPost, wire.PathAdminNodes+"/"+name+"/expire", nil, nil); code != http.StatusOK {
		w.t.Fatalf("expire %s: %d %s", name, code, body)
	}
}

// restartCoordinator kills the coordinator (its relay with it) and starts
// it again on the same data; it returns when the new one answers.
func (w *world) restartCoordinator() {
	w.t.Helper()
	w.coord.kill()
	w.coord.start()
	w.waitCoordinator()
}

// device is a node agent on a site's host.
type device struct {
	w    *world
	name string
	site *nattest.Site
	proc *proc
	api  *localapi.Client
	// closedAccepts counts connections the closed port's echo accepted.
	closedAccepts atomic.Int64
}

// addNode adds a site of class c with a node named name of tag on its
// host, started at once; a tag:b node exposes openPort and closedPort.
// Every node serves SOCKS5.
func (w *world) addNode(name string, c nattest.Class, tag string, extra ...string) *device {
	w.t.Helper()
	return w.newNode(name, c, tag, extra...)()
}

// newNode is addNode up to the node's start: the site, the echoes and an
// auth key are ready; the function returned starts the node with the
// extra arguments.
func (w *world) newNode(name string, c nattest.Class, tag string, extra ...string) (start func() *device) {
	w.t.Helper()
	d := &device{w: w, name: name, site: w.net.AddSite(c)}
	dir, err := os.MkdirTemp("", "wn-"+name) // short: the socket's path has a limit
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { os.RemoveAll(dir) })
	d.api = &localapi.Client{Socket: filepath.Join(dir, localapi.SocketName)}
	args := []string{"node", "--coordinator", coordURL, "--ca-file", w.cert, "--state-dir", dir,
		"--hostname", name, "--socks5", socksAddr, "--verbose"}
	args = append(args, extra...)
	if tag == "tag:b" {
		d.serveEcho(openPort, nil)
		d.serveEcho(closedPort, &d.closedAccepts)
		args = append(args, "--expose", strconv.Itoa(openPort)+","+strconv.Itoa(closedPort))
	}
	env := []string{"WARD_AUTH_KEY=" + w.authKey(tag)}
	return func() *device {
		w.t.Helper()
		d.proc = startProc(w.t, d.site.Host, name, env, args...)
		return d
	}
}

// serveEcho serves TCP echo on port of the host's loopback until the test
// ends, counting accepted connections in accepts (may be nil).
func (d *device) serveEcho(port uint16, accepts *atomic.Int64) {
	var l net.Listener
	if err := d.site.Host.Do(func() error {
		var err error
		l, err = net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
		return err
	}); err != nil {
		d.w.t.Fatal(err)
	}
	var wg sync.WaitGroup
	d.w.t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if accepts != nil {
				accepts.Add(1)
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
}

// peer returns the node's view of peer name from its local API.
func (d *device) peer(name string) (localapi.Peer, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := d.api.Status(ctx)
	if err != nil {
		return localapi.Peer{}, false
	}
	for _, p := range st.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return localapi.Peer{}, false
}

// nat returns the node's NAT class as its status says ("" when unknown
// or the node does not answer).
func (d *device) nat() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := d.api.Status(ctx)
	if err != nil {
		return ""
	}
	return st.Paths.NAT
}

// pathTo names the node's path to peer: "direct", "relay" or "none"
// (also when the node does not answer).
func (d *device) pathTo(peer string) string {
	if p, ok := d.peer(peer); ok {
		return p.Path
	}
	return "none"
}

// describe tells the node's path to peer and the endpoint it uses.
func (d *device) describe(peer string) string {
	p, ok := d.peer(peer)
	if !ok {
		return d.name + " does not list " + peer
	}
	ep := "no endpoint"
	if p.Endpoint.IsValid() {
		ep = p.Endpoint.String()
	}
	note := ""
	if p.PathNote != "" {
		note = ", " + p.PathNote
	}
	return fmt.Sprintf("%s->%s %s (%s%s, tx %d rx %d)", d.name, peer, p.Path, ep, note, p.TxBytes, p.RxBytes)
}

// directTo reports whether the node's path to peer is direct, to an
// endpoint at the public address of the peer's site: its only address
// this node can reach over UDP.
func (d *device) directTo(peer *device) bool {
	p, ok := d.peer(peer.name)
	return ok && p.Path == "direct" && p.Endpoint.Addr() == peer.site.Public
}

// dial connects through the node's SOCKS5 proxy, from inside its
// namespace, to port on peer.
func (d *device) dial(peer string, port uint16) (net.Conn, error) {
	var c net.Conn
	err := d.site.Host.Do(func() error {
		var err error
		c, err = nodetest.SOCKSConnect(socksAddr, peer, port, 2*time.Second)
		return err
	})
	return c, err
}

// roundTrip dials peer:port and expects a line echoed.
func (d *device) roundTrip(peer string, port uint16) error {
	c, err := d.dial(peer, port)
	if err != nil {
		return err
	}
	defer c.Close()
	return nodetest.Echo(c, "hello "+peer+"\n", 3*time.Second)
}

// waitFor polls cond every poll until it holds and returns how long that
// took; the test fails after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(poll)
	}
	return time.Since(start)
}

// within polls cond every poll until it holds or d passes; it reports
// whether it held and when.
func within(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(poll)
	}
	return time.Since(start), true
}

// waitDirect starts a flow from a to b (discovery runs while traffic
// does) and waits until each of a and b names a direct path to the other,
// or d passes; it returns the flow, how long it waited and whether they
// did.
func waitDirect(t *testing.T, a, b *device, d time.Duration) (*flow, time.Duration, bool) {
	t.Helper()
	f := startFlow(t, a, b.name)
	took, ok := within(d, func() bool { return a.directTo(b) && b.directTo(a) })
	return f, took, ok
}

// pair builds a world with node a (tag:a) behind a site of class ca and
// node b (tag:b, exposing the echoes) behind one of class cb, starts a
// then b, and waits for a's first byte to b's open port; it logs how long
// that took from the nodes' start (the sites are built before: the
// network's making is no part of a node's start).
func pair(t *testing.T, ca, cb nattest.Class) (w *world, a, b *device) {
	t.Helper()
	w = newWorld(t)
	startA, startB := w.newNode("a", ca, "tag:a"), w.newNode("b", cb, "tag:b")
	start := time.Now()
	a, b = startA(), startB()
	waitFor(t, 20*time.Second, "a's first byte to b", func() bool { return a.roundTrip("b", openPort) == nil })
	t.Logf("figure: %s->%s first byte %v after the nodes' start, path %s", ca, cb, time.Since(start).Round(time.Millisecond), a.pathTo("b"))
	return w, a, b
}

// flow is one TCP connection through the overlay carrying a small
// message every poll, each echoed back; it records when echoes arrive.
type flow struct {
	c net.Conn

	mu sync.Mutex // mu guards the fields below
	// sent and got are each echoed message's send and arrival times.
	sent, got []time.Time
}

// startFlow starts a flow from d to peer's open port; it ends with the
// test.
func startFlow(t *testing.T, d *device, peer string) *flow {
	t.Helper()
	var c net.Conn
	waitFor(t, 20*time.Second, "a flow to "+peer, func() bool {
		var err error
		if c, err = d.dial(peer, openPort); err != nil {
			return false
		}
		if nodetest.Echo(c, "start\n", 3*time.Second) != nil {
			c.Close()
			return false
		}
		return true
	})
	c.SetDeadline(time.Time{})
	f := &flow{c: c}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); c.Close(); wg.Wait() })
	wg.Go(func() { f.write(ctx) })
	wg.Go(f.read)
	return f
}

// write sends the time every poll until ctx ends or a write fails.
func (f *flow) write(ctx context.Context) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
		if _, err := f.c.Write(b[:]); err != nil {
			return
		}
	}
}

// read records each echo until the connection ends.
func (f *flow) read() {
	var b [8]byte
	for {
		if _, err := io.ReadFull(f.c, b[:]); err != nil {
			return
		}
		now := time.Now()
		f.mu.Lock()
		f.sent, f.got = append(f.sent, time.Unix(0, int64(binary.LittleEndian.Uint64(b[:])))), append(f.got, now)
		f.mu.Unlock()
	}
}

// echoSentAfter returns when the echo of the first message sent after t0
// arrived, and whether one has.
func (f *flow) echoSentAfter(t0 time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.sent {
		if s.After(t0) {
			return f.got[i], true
		}
	}
	return time.Time{}, false
}

// lastEcho returns when the last echo arrived.
func (f *flow) lastEcho() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastEchoLocked()
}

func (f *flow) lastEchoLocked() time.Time {
	if len(f.got) == 0 {
		return time.Time{}
	}
	return f.got[len(f.got)-1]
}

// recovery waits until a message sent after t0 is echoed and returns how
// long after t0 its echo arrived; the test fails after d.
func (f *flow) recovery(t *testing.T, t0 time.Time, d time.Duration, what string) time.Duration {
	t.Helper()
	var at time.Time
	waitFor(t, d, what, func() bool {
		var ok bool
		at, ok = f.echoSentAfter(t0)
		return ok
	})
	return at.Sub(t0)
}

// cut waits until no echo has arrived for quiet and returns how long
// after t0 the last one arrived (0 when none did after t0); the test
// fails after d.
func (f *flow) cut(t *testing.T, t0 time.Time, quiet, d time.Duration, what string) time.Duration {
	t.Helper()
	waitFor(t, d, what, func() bool { return time.Since(f.lastEcho()) > quiet })
	return max(f.lastEcho().Sub(t0), 0)
}

// transfer sends n random bytes to the echo of c and checks that the same
// n come back within d.
func transfer(c net.Conn, n int, d time.Duration) error {
	out := make([]byte, n)
	rand.Read(out)
	c.SetDeadline(time.Now().Add(d))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		werr <- err
	}()
	in := make([]byte, n)
	if _, err := io.ReadFull(c, in); err != nil {
		return fmt.Errorf("read the echo of %d bytes: %w", n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write %d bytes: %w", n, err)
	}
	if !bytes.Equal(in, out) {
		return fmt.Errorf("the echo of %d bytes differs", n)
	}
	return nil
}

// nodeKey returns node name's current WireGuard key from the admin API.
func (w *world) nodeKey(name string) wire.WGPublic {
	w.t.Helper()
	var n wire.AdminNode
	waitFor(w.t, 20*time.Second, name+" registered", func() bool {
		code, _ := w.admin(http.MethodGet, wire.PathAdminNodes+"/"+name, nil, &n)
		return code == http.StatusOK
	})
	return n.WGKey
}

// dialRelay connects to the coordinator's relay from the internet with
// token.
func (w *world) dialRelay(token string) (*relay.Client, error) {
	ctx, cancel := context.WithTimeout(w.t.Context(), 10*time.Second)
	defer cancel()
	return relay.Dial(ctx, coordURL+wire.PathRelay, token, w.api)
}

// handNode registers a node of tag from the internet with a hand-made
// client (the control protocol's own, no agent, no WireGuard) and
// connects it to the relay with a token the coordinator gives it; it
// returns the connection and the node's WireGuard key.
func (w *world) handNode(name, tag string) (*relay.Client, wire.WGPublic) {
	w.t.Helper()
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		w.t.Fatal(err)
	}
	wg, err := wire.NewWGPrivate()
	if err != nil {
		w.t.Fatal(err)
	}
	cc, err := control.New(control.Config{URL: coordURL, MachineKey: mk, HTTPClient: w.api})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx := w.t.Context()
	if _, err := cc.Register(ctx, wire.RegisterRequest{AuthKey: w.authKey(tag), WGKey: wg.Public(), Hostname: name, OS: "linux", Version: "test"}); err != nil {
		w.t.Fatal(err)
	}
	tok, err := cc.RelayToken(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.dialRelay(tok.Token)
	if err != nil {
		w.t.Fatalf("%s with a valid token: %v", name, err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c, wg.Public()
}
