package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestMain runs the client side of a benchmark when this binary is
// started as its child process (see startChild).
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "idle":
		os.Exit(runIdleClients())
	case "flow":
		os.Exit(runFlow())
	}
	os.Exit(m.Run())
}

// BenchmarkRelayThroughput relays 1400-byte packets from one node to
// another over loopback, in plain WebSocket and over TLS, one packet per
// Send and batches of 16 per SendBatch (as wireguard-go hands a conn.Bind
// its packets). The two nodes run in a child process, so this process is
// the relay alone: it reports the delivered rate, gigabits relayed per
// CPU-second of the relay (the "per core" figure), and the
// relay's allocations per packet. The sender keeps at most window packets
// in flight, as a congestion-controlled flow would, so the figure is what
// the relay carries rather than what it drops; drops are reported.
// Figures only: nothing is asserted.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		for _, batch := range []int{1, 16} {
			name := "ws"
			if tlsOn {
				name = "wss"
			}
			if batch > 1 {
				name += "-batch" + strconv.Itoa(batch)
			}
			b.Run(name, func(b *testing.B) { benchThroughput(b, tlsOn, batch) })
		}
	}
}

// window is the most packets BenchmarkRelayThroughput keeps in flight:
// less than the relay's queue, so that nothing need be dropped.
const window = 128

// pktLen is the size of BenchmarkRelayThroughput's packets.
const pktLen = 1400

func benchThroughput(b *testing.B, tlsOn bool, batch int) {
	r := newBenchRelay(b, tlsOn, Config{RateBytes: 1 << 40, BurstBytes: 1 << 30, QueueLen: 256})
	a, c := key(1), key(2)
	r.policy.allow(a, c)
	ch := r.startChild(b, "flow", []string{r.token(b, a), r.token(b, c)}, fmt.Sprintf("%d %d %x", b.N, batch, c[:]))
	ch.expect(b, "ready")
	waitFor(b, func() bool { return r.srv.Stats().Conns == 2 })
	b.ReportAllocs()
	b.SetBytes(pktLen)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	ch.send(b, "go")
	var got uint64
	var nodesCPU time.Duration
	done := ch.expect(b, "done")
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if _, err := fmt.Sscanf(done, "%d %d", &got, &nodesCPU); err != nil {
		b.Fatalf("child said done %q: %v", done, err)
	}
	ch.wait(b)
	gbits := float64(got) * pktLen * 8 / 1e9
	b.ReportMetric(gbits/elapsed.Seconds(), "Gbit/s")
	b.ReportMetric(gbits/cpu.Seconds(), "Gbit/relay-cpu-s")
	b.ReportMetric(gbits/nodesCPU.Seconds(), "Gbit/nodes-cpu-s")
	b.ReportMetric(float64(r.srv.Stats().QueueDrops)/float64(b.N)*100, "%dropped")
}

// runFlow is BenchmarkRelayThroughput's nodes: it sends N packets in
// batches from the first token's key to the key given, keeping at most
// window in flight, and prints how many the second token's connection
// received and the CPU time the two nodes took.
func runFlow() int {
	var n, batch int
	var to []byte
	if _, err := fmt.Sscanf(os.Getenv(childArgEnv), "%d %d %x", &n, &batch, &to); err != nil || len(to) != len(wire.WGPublic{}) {
		return fail(fmt.Errorf("flow arguments %q: %v", os.Getenv(childArgEnv), err))
	}
	toks, tc, err := childSetup()
	if err != nil {
		return fail(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	url := os.Getenv(childURLEnv)
	ctx := context.Background()
	src, err := Dial(ctx, url, toks[0], hc)
	if err != nil {
		return fail(err)
	}
	dst, err := Dial(ctx, url, toks[1], hc)
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(err)
	}
	cpu0 := cpuTime()
	var got atomic.Uint64
	inFlight := make(chan struct{}, window)
	go func() {
		for {
			if _, err := dst.Recv(ctx); err != nil {
				return
			}
			got.Add(1)
			<-inFlight
		}
	}()
	pkts := make([][]byte, batch)
	for i := range pkts {
		pkts[i] = make([]byte, pktLen)
	}
	var key wire.WGPublic
	copy(key[:], to)
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		for range m {
			if !acquire(inFlight) {
				return fail(fmt.Errorf("stalled: %d packets delivered of %d sent", got.Load(), i))
			}
		}
		if err := sendBatch(ctx, src, key, pkts[:m]); err != nil {
			return fail(err)
		}
	}
	for range window {
		if !acquire(inFlight) {
			break
		}
	}
	fmt.Println("done", got.Load(), int64(cpuTime()-cpu0))
	src.Close()
	dst.Close()
	return 0
}

// acquire takes a place in inFlight; false when none frees within 10 s
// (a packet lost).
func acquire(inFlight chan struct{}) bool {
	select {
	case inFlight <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case inFlight <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// sendBatch sends pkts with Send when there is one, else SendBatch.
func sendBatch(ctx context.Context, c *Client, to wire.WGPublic, pkts [][]byte) error {
	if len(pkts) == 1 {
		return c.Send(ctx, to, pkts[0])
	}
	return c.SendBatch(ctx, to, pkts)
}

// BenchmarkRelayIdleConnMemory connects RELAY_IDLE_CONNS (default 2000;
// make bench uses 10000) idle nodes, over plain WebSocket and over TLS,
// and reports the relay's heap and stacks grown per connection. The
// clients run in a child process doing the upgrade by hand, so the figure
// is the relay's side alone and each process needs only one descriptor
// per connection. Figures only.
func BenchmarkRelayIdleConnMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("RELAY_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	raiseNoFile(b, n+200)
	for _, tlsOn := range []bool{false, true} {
		name := "ws"
		if tlsOn {
			name = "wss"
		}
		b.Run(fmt.Sprintf("%s-%d", name, n), func(b *testing.B) { benchIdle(b, n, tlsOn) })
	}
}

func benchIdle(b *testing.B, n int, tlsOn bool) {
	r := newBenchRelay(b, tlsOn, Config{})
	toks := make([]string, n)
	for i := range toks {
		var k wire.WGPublic
		k[0], k[1], k[2] = 7, byte(i>>8), byte(i)
		toks[i] = r.token(b, k)
	}
	for range b.N {
		before, g0 := memInUse(), runtime.NumGoroutine()
		ch := r.startChild(b, "idle", toks, "")
		ch.expect(b, "ready")
		waitForLong(b, func() bool { return r.srv.Stats().Conns == n })
		time.Sleep(200 * time.Millisecond) // let every handler return
		after := memInUse()
		perConn := func(a, b uint64) float64 { return float64(int64(a-b)) / float64(n) }
		b.ReportMetric(perConn(after.total(), before.total()), "B/conn")
		b.ReportMetric(perConn(after.heap, before.heap), "heap-B/conn")
		b.ReportMetric(perConn(after.stack, before.stack), "stack-B/conn")
		writeHeapProfile(b)
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(n), "goroutines/conn")
		ch.send(b, "stop")
		ch.wait(b)
		waitForLong(b, func() bool { return r.srv.Stats().Conns == 0 })
	}
}

// waitForLong is waitFor with room for thousands of TLS handshakes on a
// shared machine.
func waitForLong(b *testing.B, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("condition not reached within 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inUse is the heap and stacks in use.
type inUse struct{ heap, stack uint64 }

func (m inUse) total() uint64 { return m.heap + m.stack }

// memInUse is the heap and stacks in use in a steady state: after
// enough collections for every idle goroutine's stack to shrink (one
// halving per collection).
func memInUse() inUse {
	for range 5 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return inUse{heap: m.HeapInuse, stack: m.StackInuse}
}

// writeHeapProfile writes the live heap, every connection up, to the
// file RELAY_IDLE_HEAPPROFILE names, when it names one (go tool pprof
// reads it; run with -test.memprofilerate=1 for every allocation).
func writeHeapProfile(b *testing.B) {
	name := os.Getenv("RELAY_IDLE_HEAPPROFILE")
	if name == "" {
		return
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// benchRelay is a relay on loopback with what a child process needs to
// reach it.
type benchRelay struct {
	*testRelay
	dir    string // holds the tokens and certificate files
	caFile string // the TLS relay's certificate (PEM); "" when plain
}

func newBenchRelay(b *testing.B, tlsOn bool, cfg Config) *benchRelay {
	signer, err := NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	p := &pairs{allowed: map[[2]wire.WGPublic]bool{}}
	cfg.Verifier, cfg.Authorizer = NewVerifier(signer.Public(), 0), p
	srv := NewServer(cfg)
	b.Cleanup(srv.Close)
	hs := httptest.NewUnstartedServer(srv)
	if tlsOn {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	b.Cleanup(hs.Close)
	r := &benchRelay{testRelay: &testRelay{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer, policy: p}, dir: b.TempDir()}
	if tlsOn {
		r.caFile = filepath.Join(r.dir, "ca.pem")
		pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
		if err := os.WriteFile(r.caFile, pemCert, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// What a benchmark's child process reads from its environment.
const (
	childEnv       = "RELAY_BENCH_CHILD"  // its part: "idle" or "flow"
	childURLEnv    = "RELAY_BENCH_URL"    // the relay's ws:// or wss:// URL
	childTokensEnv = "RELAY_BENCH_TOKENS" // a file of tokens, one a line
	childCAEnv     = "RELAY_BENCH_CA"     // the relay's certificate file; empty when plain
	childArgEnv    = "RELAY_BENCH_ARG"    // its part's arguments
)

// child is a benchmark's client process, talking a line at a time.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startChild starts this test binary as the child playing part mode with
// toks.
func (r *benchRelay) startChild(b *testing.B, mode string, toks []string, arg string) *child {
	tokFile := filepath.Join(r.dir, "tokens")
	if err := os.WriteFile(tokFile, []byte(strings.Join(toks, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childURLEnv+"="+r.url, childTokensEnv+"="+tokFile,
		childCAEnv+"="+r.caFile, childArgEnv+"="+arg)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ch := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return ch
}

// expect reads the child's next line, which must start with word, and
// returns the rest.
func (ch *child) expect(b *testing.B, word string) string {
	if !ch.out.Scan() {
		b.Fatalf("child ended before %q: %v", word, ch.out.Err())
	}
	rest, ok := strings.CutPrefix(ch.out.Text(), word)
	if !ok {
		b.Fatalf("child said %q, want %q", ch.out.Text(), word)
	}
	return strings.TrimSpace(rest)
}

func (ch *child) send(b *testing.B, line string) {
	if _, err := fmt.Fprintln(ch.in, line); err != nil {
		b.Fatal(err)
	}
}

// wait waits for the child to end, its stdin closed.
func (ch *child) wait(b *testing.B) {
	ch.in.Close()
	if err := ch.cmd.Wait(); err != nil {
		b.Errorf("child: %v", err)
	}
}

// childSetup reads a child's tokens and TLS configuration.
func childSetup() ([]string, *tls.Config, error) {
	toks, err := os.ReadFile(os.Getenv(childTokensEnv))
	if err != nil {
		return nil, nil, err
	}
	ca := os.Getenv(childCAEnv)
	if ca == "" {
		return strings.Fields(string(toks)), nil, nil
	}
	pemCert, err := os.ReadFile(ca)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	return strings.Fields(string(toks)), &tls.Config{RootCAs: pool, ServerName: "example.com"}, nil
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "relay benchmark child:", err)
	return 1
}

// runIdleClients is BenchmarkRelayIdleConnMemory's nodes: it connects
// every token and holds the connections until its stdin says so.
func runIdleClients() int {
	toks, tc, err := childSetup()
	if err != nil {
		return fail(err)
	}
	raiseNoFileToMax()
	addr := strings.TrimPrefix(strings.TrimPrefix(os.Getenv(childURLEnv), "ws://"), "wss://")
	conns := make([]net.Conn, len(toks))
	work := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 8 {
		wg.Go(func() {
			for i := range work {
				c, err := upgradeBare(addr, toks[i], tc)
				if err != nil {
					failed.Store(err)
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range toks {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return fail(err)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// upgradeBare opens a relay connection with a hand-written upgrade.
func upgradeBare(addr, tok string, tc *tls.Config) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		tlsc := tls.Client(c, tc)
		if err := tlsc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tlsc
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, tok)
	br := bufio.NewReaderSize(c, 512)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("upgrade: %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if l == "\r\n" {
			return c, nil
		}
	}
}
