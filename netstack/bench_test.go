package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	wgnetstack "golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/wardnet/ward/internal/benchflow"
)

const (
	benchPort = 5001
	benchMTU  = 1420
)

// throughputLink is one way to move TCP data from a sender to a sink.
type throughputLink struct {
	// listen starts the sink side.
	listen func(b *testing.B) net.Listener
	// dial opens the sender's connection to addr.
	dial func(b *testing.B, addr net.Addr) net.Conn
}

// BenchmarkThroughputWard moves data node A -> node B over TCP through two
// Ward Stacks joined by wireguard-go on loopback UDP.
func BenchmarkThroughputWard(b *testing.B) {
	benchThroughput(b, wardLink(b, false))
}

// BenchmarkThroughputWardLegacy is BenchmarkThroughputWard on the legacy
// data path (Config.LegacyDataPath).
func BenchmarkThroughputWardLegacy(b *testing.B) {
	benchThroughput(b, wardLink(b, true))
}

// BenchmarkThroughputWardForward is BenchmarkThroughputWard with the sink
// behind an exposed port: B forwards the flow to a real 127.0.0.1 server.
func BenchmarkThroughputWardForward(b *testing.B) {
	benchThroughput(b, wardForwardLink(b, false))
}

// BenchmarkThroughputWardForwardLegacy is BenchmarkThroughputWardForward
// on the legacy data path (Config.LegacyDataPath).
func BenchmarkThroughputWardForwardLegacy(b *testing.B) {
	benchThroughput(b, wardForwardLink(b, true))
}

// BenchmarkThroughputWGNetstack is the same transfer with wireguard-go's
// own tun/netstack on both ends.
func BenchmarkThroughputWGNetstack(b *testing.B) {
	benchThroughput(b, wgNetstackLink(b))
}

// BenchmarkThroughputLoopback is the same transfer over plain loopback TCP:
// the ceiling of this machine.
func BenchmarkThroughputLoopback(b *testing.B) {
	benchThroughput(b, loopbackLink())
}

func wardLink(b *testing.B, legacy bool) throughputLink {
	cfg := Config{MTU: benchMTU, LegacyDataPath: legacy}
	p := newWardPair(b, &cfg, &cfg)
	p.b.SetFilter(allowAll)
	return throughputLink{
		listen: func(b *testing.B) net.Listener {
			l, err := p.b.ListenTCP(netip.AddrPortFrom(addrB4, benchPort))
			if err != nil {
				b.Fatalf("listen: %v", err)
			}
			return l
		},
		dial: func(b *testing.B, addr net.Addr) net.Conn {
			return mustDial(b, func(ctx context.Context) (net.Conn, error) {
				return p.a.DialContext(ctx, "tcp", addr.String())
			})
		},
	}
}

func wardForwardLink(b *testing.B, legacy bool) throughputLink {
	var p *wardPair
	return throughputLink{
		listen: func(b *testing.B) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatalf("listen: %v", err)
			}
			port := uint16(l.Addr().(*net.TCPAddr).Port)
			p = newWardPair(b, &Config{MTU: benchMTU, LegacyDataPath: legacy},
				&Config{MTU: benchMTU, LegacyDataPath: legacy, Expose: []Service{{ProtoTCP, port}}})
			p.b.SetFilter(allowAll)
			return l
		},
		dial: func(b *testing.B, addr net.Addr) net.Conn {
			dst := netip.AddrPortFrom(addrB4, uint16(addr.(*net.TCPAddr).Port))
			return mustDial(b, func(ctx context.Context) (net.Conn, error) {
				return p.a.DialContext(ctx, "tcp", dst.String())
			})
		},
	}
}

func wgNetstackLink(b *testing.B) throughputLink {
	tunA, netA, err := wgnetstack.CreateNetTUN([]netip.Addr{addrA4}, nil, benchMTU)
	if err != nil {
		b.Fatalf("create netstack: %v", err)
	}
	tunB, netB, err := wgnetstack.CreateNetTUN([]netip.Addr{addrB4}, nil, benchMTU)
	if err != nil {
		b.Fatalf("create netstack: %v", err)
	}
	linkWG(b, tunA, tunB, []netip.Addr{addrA4}, []netip.Addr{addrB4})
	return throughputLink{
		listen: func(b *testing.B) net.Listener {
			l, err := netB.ListenTCPAddrPort(netip.AddrPortFrom(addrB4, benchPort))
			if err != nil {
				b.Fatalf("listen: %v", err)
			}
			return l
		},
		dial: func(b *testing.B, addr net.Addr) net.Conn {
			ap := netip.AddrPortFrom(addrB4, benchPort)
			return mustDial(b, func(ctx context.Context) (net.Conn, error) {
				return netA.DialContextTCPAddrPort(ctx, ap)
			})
		},
	}
}

func loopbackLink() throughputLink {
	return throughputLink{
		listen: func(b *testing.B) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatalf("listen: %v", err)
			}
			return l
		},
		dial: func(b *testing.B, addr net.Addr) net.Conn {
			return mustDial(b, func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr.String())
			})
		},
	}
}

func mustDial(b *testing.B, dial func(context.Context) (net.Conn, error)) net.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchThroughput sends b.N MiB over one TCP connection of link and
// reports Gbit/s, CPU-s/GB and the peak live heap during the transfer.
func benchThroughput(b *testing.B, link throughputLink) {
	l := link.listen(b)
	b.Cleanup(func() { l.Close() })
	received := make(chan int64, 1)
	go benchflow.Sink(l, received)
	c := link.dial(b, l.Addr())
	peak := startHeapSampler()
	b.ReportAllocs()
	benchflow.Send(b, c, received)
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// startHeapSampler samples the live heap every 10ms until the returned
// function is called, which returns the peak in bytes.
func startHeapSampler() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

// TestThroughputRatios runs the throughput benchmarks in one process,
// interleaved for WARD_BENCH_ROUNDS rounds (default 3), and prints the
// median Gbit/s of each and the ratios Ward/Ward on the legacy data path,
// Ward/wg-netstack and Ward/loopback.
// It runs only with WARD_BENCH_RATIOS=1.
func TestThroughputRatios(t *testing.T) {
	if os.Getenv("WARD_BENCH_RATIOS") != "1" {
		t.Skip("set WARD_BENCH_RATIOS=1 to measure throughput ratios")
	}
	rounds := 3
	if v := os.Getenv("WARD_BENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	benches := []struct {
		name string
		fn   func(*testing.B)
	}{
		{"ward", BenchmarkThroughputWard},
		{"ward-legacy", BenchmarkThroughputWardLegacy},
		{"ward-forward", BenchmarkThroughputWardForward},
		{"ward-fwd-legacy", BenchmarkThroughputWardForwardLegacy},
		{"wg-netstack", BenchmarkThroughputWGNetstack},
		{"loopback", BenchmarkThroughputLoopback},
	}
	gbps := make(map[string][]float64)
	for r := range rounds {
		for _, bb := range benches {
			res := testing.Benchmark(bb.fn)
			gbps[bb.name] = append(gbps[bb.name], res.Extra["Gbit/s"])
			t.Logf("round %d %-13s %7.3f Gbit/s  peak heap %6.1f MB  %d allocs/op",
				r+1, bb.name, res.Extra["Gbit/s"], res.Extra["peak-heap-MB"], res.AllocsPerOp())
		}
	}
	med := func(name string) float64 {
		v := slices.Clone(gbps[name])
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, bb := range benches {
		t.Logf("median %-13s %7.3f Gbit/s", bb.name, med(bb.name))
	}
	t.Logf("ratio ward/ward-legacy         = %.2fx", med("ward")/med("ward-legacy"))
	t.Logf("ratio ward-forward/legacy      = %.2fx", med("ward-forward")/med("ward-fwd-legacy"))
	t.Logf("ratio ward/wg-netstack         = %.2fx", med("ward")/med("wg-netstack"))
	t.Logf("ratio ward-forward/wg-netstack = %.2fx", med("ward-forward")/med("wg-netstack"))
	t.Logf("ratio ward/loopback            = %.2fx", med("ward")/med("loopback"))
	t.Logf("peak RSS of the process (all runs): %s", peakRSS())
}

// peakRSS returns the process's resident-set high-water mark from
// /proc/self/status, or "unknown".
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
