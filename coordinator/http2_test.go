package coordinator

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, as a load
// balancer that terminates TLS does to its upstreams, with a receive
// window of window bytes per stream.
func h2cClient(window int) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p,
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: window}}}
}

// openRaw opens node m's map stream through cl and returns the response,
// checking it is HTTP/2.
func openRaw(t *testing.T, c *testCoord, cl *http.Client, m *machine) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap, nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("open map: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("open map: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	return resp
}

// countLines counts the lines of body as they arrive.
func countLines(body interface{ Read([]byte) (int, error) }) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		br := bufio.NewReader(body)
		for {
			if _, err := br.ReadBytes('\n'); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return &n
}

// waitUntil polls cond for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestMapStreamsShareHTTP2Connection: the map streams of several nodes
// travel over one HTTP/2 connection (as behind a load balancer); one node
// that stops reading fills its own stream's flow-control window, loses
// its stream once a write waited MapWriteTimeout, and neither stalls its
// neighbours on the connection nor takes the connection down.
func TestMapStreamsShareHTTP2Connection(t *testing.T) {
	var accepted atomic.Int64
	c := startCoordShaped(t, testPolicy, func(cfg *Config) {
		cfg.KeepAlive = time.Millisecond // fills a stalled stream's window soon
		cfg.MapWriteTimeout = 300 * time.Millisecond
	}, nil, func(ln net.Listener) net.Listener { return countingListener{ln, &accepted} })
	stalled := c.mustRegister([]string{"tag:operator"}, "stalled")
	busy := c.mustRegister([]string{"tag:operator"}, "busy")
	c.mustRegister([]string{"tag:camera"}, "cam")
	stalledID, busyID := c.storeNode(stalled).ID, c.storeNode(busy).ID
	before := accepted.Load()

	cl := h2cClient(64 << 10)
	defer cl.CloseIdleConnections()
	openRaw(t, c, cl, stalled) // never read
	lines := countLines(openRaw(t, c, cl, busy).Body)
	if got := accepted.Load() - before; got != 1 {
		t.Fatalf("two streams took %d connections, want 1", got)
	}
	if !waitUntil(60*time.Second, func() bool { return !c.srv.hub.connected(stalledID) }) {
		t.Fatal("the stream nobody reads is still open after 60s")
	}
	// The neighbour still gets its messages, on the same connection.
	n := lines.Load()
	if !waitUntil(30*time.Second, func() bool { return lines.Load() > n+100 }) {
		t.Fatalf("the neighbour's stream stalled: %d lines, none more within 30s", n)
	}
	if !c.srv.hub.connected(busyID) {
		t.Error("the neighbour's stream ended with the stalled one")
	}
	if got := accepted.Load() - before; got != 1 {
		t.Errorf("%d connections after the stalled stream ended, want the one", got)
	}
	// A change reaches the neighbour through the shared connection.
	c.mustRegister([]string{"tag:camera"}, "cam2")
	k := lines.Load()
	if !waitUntil(30*time.Second, func() bool { return lines.Load() > k }) {
		t.Error("no message after a join")
	}
}

// TestHTTP2MapAdmission: over HTTP/2 a stream past the admission bucket
// gets 429 with a Retry-After, as over HTTP/1.1, and the connection
// carries on.
func TestHTTP2MapAdmission(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.MapAdmitEvery = time.Hour
		cfg.MapAdmitBurst = 1
	})
	a := c.mustRegister([]string{"tag:operator"}, "a")
	b := c.mustRegister([]string{"tag:operator"}, "b")
	cl := h2cClient(0)
	defer cl.CloseIdleConnections()
	openRaw(t, c, cl, a)
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.ProtoMajor != 2 {
		t.Fatalf("second stream: %d %s Retry-After %q, want 429 over HTTP/2 with Retry-After", resp.StatusCode, resp.Proto, resp.Header.Get("Retry-After"))
	}
}

// TestServeSpeaksH2C: Server.Serve itself (not only the tests' server)
// answers HTTP/2 with prior knowledge on plain HTTP, and HTTP/1.1.
func TestServeSpeaksH2C(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(context.Background(), Config{DataDir: dir, Listen: ln.Addr().String(), Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	url := fmt.Sprintf("http://%s%s", ln.Addr(), wire.PathChallenge)
	for _, tc := range []struct {
		cl    *http.Client
		major int
	}{{h2cClient(0), 2}, {&http.Client{}, 1}} {
		resp, err := tc.cl.Post(url, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != tc.major {
			t.Errorf("answered over %s, want HTTP/%d", resp.Proto, tc.major)
		}
		tc.cl.CloseIdleConnections()
	}
}

// TestHTTP2StreamOutlivesWriteTimeout: over HTTP/2 a write deadline is a
// timer that resets the stream when it fires, whether a write is under
// way or not; a stream whose messages come further apart than
// MapWriteTimeout (keep-alives every 40 s against 30 s) must not lose
// its stream after each one.
func TestHTTP2StreamOutlivesWriteTimeout(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.KeepAlive = 400 * time.Millisecond
		cfg.MapWriteTimeout = 100 * time.Millisecond
	})
	m := c.mustRegister([]string{"tag:operator"}, "op")
	id := c.storeNode(m).ID
	cl := h2cClient(0)
	defer cl.CloseIdleConnections()
	lines := countLines(openRaw(t, c, cl, m).Body)
	if !waitUntil(30*time.Second, func() bool { return lines.Load() >= 6 }) {
		t.Fatalf("%d messages in 30s, want the map and 5 keep-alives on one stream", lines.Load())
	}
	if online := c.srv.metrics.presence.WithLabelValues("online"); valueOf(t, online) != 1 || !c.srv.hub.connected(id) {
		t.Errorf("stream reopened or ended: %v online marks, connected %v", valueOf(t, online), c.srv.hub.connected(id))
	}
}
