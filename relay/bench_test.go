package relay

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// BenchmarkRelayThroughput relays 1400-byte packets from one node to
// another over loopback, in plain WebSocket and over TLS, and reports
// the delivered rate; packets a full queue dropped are reported, not
// counted as delivered. Figures only: nothing is asserted.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		name := "ws"
		if tlsOn {
			name = "wss"
		}
		b.Run(name, func(b *testing.B) { benchThroughput(b, tlsOn) })
	}
}

func benchThroughput(b *testing.B, tlsOn bool) {
	signer, err := NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	p := &pairs{allowed: map[[2]wire.WGPublic]bool{}}
	srv := NewServer(Config{Verifier: NewVerifier(signer.Public(), 0), Authorizer: p, RateBytes: 1 << 40, BurstBytes: 1 << 30, QueueLen: 256})
	var hs *httptest.Server
	var hc *http.Client
	if tlsOn {
		hs = httptest.NewTLSServer(srv)
		hc = hs.Client()
	} else {
		hs = httptest.NewServer(srv)
	}
	defer hs.Close()
	r := &testRelay{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer, policy: p}
	a, c := key(1), key(2)
	p.allow(a, c)
	dial := func(k wire.WGPublic) *Client {
		cl, err := Dial(context.Background(), r.url, r.token(b, k), hc)
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool { return srv.Connected(k) })
		return cl
	}
	ca, cc := dial(a), dial(c)
	defer ca.Close()
	defer cc.Close()
	pkt := make([]byte, 1400)
	ctx := context.Background()
	var got atomic.Uint64
	go func() {
		for {
			if _, err := cc.Recv(context.Background()); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := ca.Send(ctx, c, pkt); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, func() bool { st := srv.Stats(); return st.Forwarded+st.QueueDrops+st.Refused >= uint64(b.N) })
	waitFor(b, func() bool { return got.Load() >= srv.Stats().Forwarded })
	elapsed := time.Since(start)
	b.StopTimer()
	n := got.Load()
	st := srv.Stats()
	b.ReportMetric(float64(n)*float64(len(pkt))*8/elapsed.Seconds()/1e9, "Gbit/s")
	b.ReportMetric(float64(st.QueueDrops)/float64(b.N)*100, "%dropped")
}

// BenchmarkRelayIdleConnMemory connects RELAY_IDLE_CONNS (default 2000)
// idle nodes and reports the heap and stacks grown per connection. The
// clients are bare sockets that did the upgrade by hand, so nearly all
// of the figure is the relay's side. Figures only.
func BenchmarkRelayIdleConnMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("RELAY_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	r := newTestRelay(b, Config{})
	addr := strings.TrimPrefix(r.url, "ws://")
	toks := make([]string, n)
	for i := range toks {
		var k wire.WGPublic
		k[0], k[1], k[2] = 7, byte(i>>8), byte(i)
		toks[i] = r.token(b, k)
	}
	for range b.N {
		before, g0 := memInUse(), runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for _, tok := range toks {
			conns = append(conns, upgradeBare(b, addr, tok))
		}
		time.Sleep(200 * time.Millisecond) // let every handler reach its read
		after := memInUse()
		b.ReportMetric(float64(after-before)/float64(n), "B/conn")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(n), "goroutines/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// upgradeBare opens a relay connection with a hand-written upgrade.
func upgradeBare(b *testing.B, addr, tok string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, tok)
	br := bufio.NewReaderSize(c, 512)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 101 ") {
		b.Fatalf("upgrade: %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if l == "\r\n" {
			return c
		}
	}
}
