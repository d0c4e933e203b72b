package node

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/internal/benchflow"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

// TestInFlightBoundsWireGuardQueues moves a bulk TCP flow with 4 MiB TCP
// buffers between two Engines and checks that wireguard-go never held
// more packets than the bound (EngineConfig.InFlight, 64 here, below the
// 250-700 it held in this test unbounded; plus one batch) either way: the sender's netstack Read waits for the bind's sends, the
// receiver's bind waits for the netstack's Writes. Without the wait a
// window this size sat in wireguard-go's queues whole (1,600 packets of
// 64 KiB buffers on each node), and past the soft memory limit the
// collector ran without pause (issue 12's collapsed rounds).
func TestInFlightBoundsWireGuardQueues(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for ln.Addr().(*net.TCPAddr).Port == int(PingPort) { // a node cannot expose its ping port
		held := ln
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		held.Close()
	}
	t.Cleanup(func() { ln.Close() })
	received := make(chan int64, 1)
	go benchflow.Sink(ln, received)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	const limit = 64
	tweak := func(c *EngineConfig) { c.TCPBufferMax, c.InFlight, c.Logger = 4<<20, limit, quiet }
	dev := newTestNodeWith(t, 2, "device", nil, tweak, port)
	cli := newTestNodeWith(t, 1, "client", nil, tweak)
	if err := dev.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(cli, dev, port)}}); err != nil {
		t.Fatal(err)
	}
	dev.addPeers(t, 3, cli.peerOf(time.Time{}))
	cli.addPeers(t, 2, dev.peerOf(time.Time{}))
	ctx, cancel := context.WithTimeout(context.Background(), handshakeWait)
	defer cancel()
	c, err := cli.e.DialPeer(ctx, "device", port)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // a functional bound, not a figure
	const size = 128 << 20
	if _, err := io.CopyN(c, zeros{}, size); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	select {
	case n := <-received:
		if n != size {
			t.Fatalf("the service received %d bytes, want %d", n, size)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the service did not receive the flow")
	}
	// Read hands wireguard-go at most a read batch past the limit, a UDP
	// receive at most its batch (128).
	const bound = limit + 128
	for _, n := range []struct {
		name string
		node *testNode
		dir  string // the direction the flow's data takes there
	}{{"client", cli, "out"}, {"device", dev, "in"}} {
		st, ok := n.node.e.dp.Load().net.(*netstack.Stack)
		if !ok {
			t.Fatalf("%s: the data plane is not a netstack", n.name)
		}
		out, in := st.InFlight()
		o, i := out.Stats(), in.Stats()
		t.Logf("%s: packets wireguard-go held: out %+v, in %+v", n.name, o, i)
		if o.Peak > bound || i.Peak > bound {
			t.Errorf("%s: wireguard-go held up to %d packets out and %d in, want at most %d", n.name, o.Peak, i.Peak, bound)
		}
		if data := map[string]int{"out": o.Peak, "in": i.Peak}[n.dir]; data == 0 {
			t.Errorf("%s: the flow's %s packets were never counted", n.name, n.dir)
		}
	}
}

// zeros reads zeros, endlessly.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestIsTransportData(t *testing.T) {
	msg := func(typ byte, size int) []byte {
		b := make([]byte, size)
		b[0] = typ
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"a data packet", msg(4, 32+60), true},
		{"the smallest data packet", msg(4, 33), true},
		{"a keepalive", msg(4, 32), false},
		{"a handshake initiation", msg(1, 148), false},
		{"a handshake response", msg(2, 92), false},
		{"a cookie reply", msg(3, 64), false},
		{"too short", msg(4, 3), false},
		{"empty", nil, false},
		{"type 4 in a higher byte", append([]byte{0, 4}, make([]byte, 60)...), false},
	} {
		if got := isTransportData(tc.pkt); got != tc.want {
			t.Errorf("%s: isTransportData = %v, want %v", tc.name, got, tc.want)
		}
	}
}
