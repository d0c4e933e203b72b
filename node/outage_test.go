package node

import (
	"context"
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

// TestFlowRecoversAfterPathOutage: a flow whose only path goes dark for
// 1.5 s (every UDP packet both ways lost) carries data again once the path
// is back, within TCP's retransmission backoff.
func TestFlowRecoversAfterPathOutage(t *testing.T) {
	var cut atomic.Bool
	withCut := func(c *EngineConfig) { c.Bind = func() conn.Bind { return cutBind{Bind: conn.NewDefaultBind(), cut: &cut} } }
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
	defer c.Close()
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
