package netstack

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/internal/benchflow"
)

// BenchmarkFlowLogCost measures what the flow logs' counting hook costs
// the data plane: the same TCP transfer through two pairs of Stacks, one
// with CountFlows (and a drain every 100 ms, far more often than a node's
// 5 s) and one without, alternated in each round so both see the same
// machine load. It reports both throughputs and their ratio (on/off; 1.0
// means no cost).
func BenchmarkFlowLogCost(b *testing.B) {
	off := flowBenchLink(b, false)
	on := flowBenchLink(b, true)
	chunk := make([]byte, benchflow.Chunk)
	var tOff, tOn time.Duration
	b.SetBytes(2 * benchflow.PerOp)
	b.ResetTimer()
	for range b.N {
		tOff += timeWrite(b, off, chunk)
		tOn += timeWrite(b, on, chunk)
	}
	b.StopTimer()
	gbit := func(d time.Duration) float64 { return float64(b.N) * benchflow.PerOp * 8 / d.Seconds() / 1e9 }
	b.ReportMetric(gbit(tOff), "Gbit/s-off")
	b.ReportMetric(gbit(tOn), "Gbit/s-on")
	b.ReportMetric(tOff.Seconds()/tOn.Seconds(), "on/off")
}

// flowLink is a connection to a sink that says when each benchflow.PerOp
// bytes have arrived.
type flowLink struct {
	c    net.Conn
	done chan struct{}
}

// timeWrite writes benchflow.PerOp bytes to l and returns how long they took
// to arrive.
func timeWrite(b *testing.B, l flowLink, chunk []byte) time.Duration {
	start := time.Now()
	for range benchflow.PerOp / benchflow.Chunk {
		if _, err := l.c.Write(chunk); err != nil {
			b.Fatalf("write: %v", err)
		}
	}
	<-l.done
	return time.Since(start)
}

// perOpSink reads c to EOF, signalling done for every benchflow.PerOp bytes.
func perOpSink(l net.Listener, done chan<- struct{}) {
	c, err := l.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, benchflow.Chunk)
	got := 0
	for {
		n, err := c.Read(buf)
		for got += n; got >= benchflow.PerOp; got -= benchflow.PerOp {
			done <- struct{}{}
		}
		if err != nil {
			return
		}
	}
}

// flowBenchLink opens a TCP connection from one Stack to a sink behind
// another, with flow counting on both when count is set.
func flowBenchLink(b *testing.B, count bool) flowLink {
	p := newWardPair(b, &Config{MTU: benchMTU, CountFlows: count}, &Config{MTU: benchMTU, CountFlows: count})
	p.b.SetFilter(allowAll)
	l, err := p.b.ListenTCP(netip.AddrPortFrom(addrB4, benchPort))
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	b.Cleanup(func() { l.Close() })
	done := make(chan struct{}, 1)
	go perOpSink(l, done)
	if count {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		go drainEvery(ctx, 100*time.Millisecond, p.a, p.b)
	}
	c := mustDial(b, func(ctx context.Context) (net.Conn, error) {
		return p.a.DialContext(ctx, "tcp", l.Addr().String())
	})
	b.Cleanup(func() { c.Close() })
	return flowLink{c: c, done: done}
}

// drainEvery drains the stacks' flow counts every d until ctx is done.
func drainEvery(ctx context.Context, d time.Duration, stacks ...*Stack) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, s := range stacks {
				s.DrainFlowCounts(func(FlowCount) {})
			}
		}
	}
}

// BenchmarkFlowLogHookPerPacket is the guard's per-packet cost of a
// tracked inbound packet, without and with the counting hook, alternated
// in blocks of 1,024 packets; it reports both and their ratio (on/off
// time; 1.0 means no cost).
func BenchmarkFlowLogHookPerPacket(b *testing.B) {
	in := tcpPacket(addrA4, addrB4, 40000, 80, tcpACK)
	guards := [2]*guard{}
	for i := range guards {
		guards[i] = newGuard(GuardConfig{IPv4: addrB4, MaxFlows: minFlows, CountFlows: i == 1}, nil)
		guards[i].filter.set(allowAll)
		guards[i].inbound(tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), 1)
	}
	var spent [2]time.Duration
	const block = 1024
	b.ResetTimer()
	for n := 0; n < b.N; n += block {
		for i, g := range guards {
			start := time.Now()
			for range block {
				g.inbound(in, 2)
			}
			spent[i] += time.Since(start)
		}
	}
	pkts := float64((b.N + block - 1) / block * block)
	b.ReportMetric(float64(spent[0].Nanoseconds())/pkts, "ns/pkt-off")
	b.ReportMetric(float64(spent[1].Nanoseconds())/pkts, "ns/pkt-on")
	b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "on/off")
}
