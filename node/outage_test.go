package node

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// cutBind is a UDP bind whose sends vanish while cut is set.
type cutBind struct {
	conn.Bind
	cut *atomic.Bool
}

func (b cutBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	if b.cut.Load() {
		return nil
	}
	return b.Bind.Send(bufs, ep)
}

// outageFlow starts two nodes whose UDP sends vanish while the returned
// flag is set, and a flow from op (b) to an echo service on cam (a).
func outageFlow(t *testing.T) (*atomic.Bool, *testNode, *testNode, net.Conn) {
	t.Helper()
	cut := new(atomic.Bool)
	withCut := func(c *EngineConfig) {
		c.Bind = func() conn.Bind { return cutBind{Bind: conn.NewDefaultBind(), cut: cut} }
	}
	open := startEchoServer(t)
	b := newTestNodeWith(t, 2, "op", nil, withCut)
	a := newTestNodeWith(t, 1, "cam", nil, withCut, open)
	if err := a.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(b, a, open)}}); err != nil {
		t.Fatal(err)
	}
	a.addPeers(t, 3, b.peerOf(time.Time{}))
	b.addPeers(t, 2, a.peerOf(time.Time{}))
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	c, err := b.e.DialPeer(ctx, "cam", open)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return cut, a, b, c
}

// TestFlowRecoversAfterPathOutage: a flow whose only path goes dark for
// 1.5 s (every UDP packet both ways lost) carries data again once the path
// is back, within TCP's retransmission backoff.
func TestFlowRecoversAfterPathOutage(t *testing.T) {
	cut, a, b, c := outageFlow(t)
	if _, err := roundTrip(c, "before"); err != nil {
		t.Fatalf("before the outage: %v", err)
	}
	cut.Store(true)
	c.Write([]byte("during"))
	time.Sleep(1500 * time.Millisecond)
	cut.Store(false)
	start := time.Now()
	buf := make([]byte, len("during"))
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := c.Read(buf); err != nil || string(buf) != "during" {
		t.Fatalf("after the outage: %q, %v (op %+v; cam %+v)", buf, err, b.e.Status().Peers, a.e.Status().Peers)
	}
	t.Logf("recovered %v after the path came back", time.Since(start).Round(time.Millisecond))
}

// TestStreamingFlowRecoversAfterPathOutage: as TestFlowRecoversAfterPathOutage,
// with the flow writing every 25 ms through a 3 s outage, so every segment
// of its window is lost. With gVisor's RACK loss detection on, the
// sender's retransmission timer never fired again and the flow stalled
// for good (the cause of the e2e/nat rebind and relay-restart failures).
func TestStreamingFlowRecoversAfterPathOutage(t *testing.T) {
	cut, _, b, c := outageFlow(t)
	var got atomic.Int64
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got.Add(int64(n))
		}
	}()
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(25 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				c.Write([]byte("12345678"))
			}
		}
	}()
	defer close(stop)
	time.Sleep(500 * time.Millisecond)
	cut.Store(true)
	time.Sleep(3 * time.Second)
	before := got.Load()
	cut.Store(false)
	start := time.Now()
	for got.Load() == before {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("no echo for 15 s after the path came back (op %+v)", b.e.Status().Peers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovered %v after the path came back", time.Since(start).Round(time.Millisecond))
}
