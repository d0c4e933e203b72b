package node

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
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
	dev, cli := gatedPair(t, func(c *EngineConfig) { c.TCPBufferMax, c.InFlight, c.Logger = 4<<20, limit, quiet }, port)
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

// TestForgedDataIsNotCounted plays an attacker who reaches a node's UDP
// port: it sends data messages with made-up receiver indices, which
// wireguard-go drops. Counted into the inbound gate, they would never
// come out: past the gate's limit every receive waited the gate's stall
// time (a few hundred bytes a packet stopping the node's inbound data).
// Only data to an index the node sent in a handshake is counted, so the
// gate stays empty, and a flow still goes through afterwards.
func TestForgedDataIsNotCounted(t *testing.T) {
	port := startEchoServer(t)
	dev, cli := gatedPair(t, func(c *EngineConfig) { c.InFlight, c.Logger = 64, quiet }, port)
	echo := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), handshakeWait)
		defer cancel()
		c, err := cli.e.DialPeer(ctx, "device", port)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		if got, err := roundTrip(c, "through the overlay"); err != nil || got != "through the overlay" {
			t.Fatalf("echo: %q, %v", got, err)
		}
	}
	echo() // a session exists: its data is counted (and leaves)

	st, ok := dev.e.dp.Load().net.(*netstack.Stack)
	if !ok {
		t.Fatal("the data plane is not a netstack")
	}
	_, in := st.InFlight()
	before := in.Stats()
	if before.Peak == 0 {
		t.Fatal("the session's data was never counted")
	}

	forger, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dev.e.ListenPort())))
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	const forged, size = 2000, 96
	rx := dev.e.bind.counters.directRx.Load()
	pkt := make([]byte, size)
	for i := range forged {
		binary.LittleEndian.PutUint32(pkt, 4)                          // a data message
		binary.LittleEndian.PutUint32(pkt[4:], 0x9e3779b9*uint32(i+1)) // a receiver index of no session
		binary.LittleEndian.PutUint64(pkt[8:], uint64(i))              // its counter
		if _, err := forger.Write(pkt); err != nil {
			t.Fatalf("send a forged packet: %v", err)
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // let the node's socket buffer drain
		}
	}
	// The bind has read them when its byte count moved by their size
	// (the kernel may have dropped some: half is enough).
	eventuallyWithin(t, handshakeWait, "the forged packets read", func() bool {
		return dev.e.bind.counters.directRx.Load()-rx >= forged*size/2
	})
	after := in.Stats()
	t.Logf("inbound gate before %+v, after %d forged packets %+v", before, forged, after)
	if after.Held != 0 || after.Resets != before.Resets {
		t.Errorf("forged data was counted: the gate holds %d packets and restarted %d times (before: %d)", after.Held, after.Resets, before.Resets)
	}
	echo()
}

// gatedPair starts a device exposing port and a client, each Engine's
// config changed by tweak, peers of each other, the client allowed to the
// port.
func gatedPair(t *testing.T, tweak func(*EngineConfig), port uint16) (dev, cli *testNode) {
	t.Helper()
	dev = newTestNodeWith(t, 2, "device", nil, tweak, port)
	cli = newTestNodeWith(t, 1, "client", nil, tweak)
	if err := dev.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(cli, dev, port)}}); err != nil {
		t.Fatal(err)
	}
	dev.addPeers(t, 3, cli.peerOf(time.Time{}))
	cli.addPeers(t, 2, dev.peerOf(time.Time{}))
	return dev, cli
}
