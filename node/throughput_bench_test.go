package node

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/internal/benchflow"
	"github.com/wardnet/ward/wire"
)

// BenchmarkEngineThroughput moves b.N MiB over one TCP flow from one
// Engine to a service another Engine exposes (the path of `ward node`
// minus the proxy: netstack, filter, pathBind and wireguard-go on loopback
// UDP), on the legacy data path (EngineConfig.LegacyDataPath), on
// today's, and on today's with wireguard-go's StdNetBind instead of Ward's
// UDP bind, with a batch of 64, with the kernel's UDP socket buffers or
// with 32 KiB copy buffers. Run it with -cpu 1,2 for the GOMAXPROCS of
// `ward node` against the runtime's (2 CPUs). It reports Gbit/s and, on Linux, the CPU seconds per GB of the
// whole process. Profile it with -cpuprofile, one sub-benchmark at a time.
func BenchmarkEngineThroughput(b *testing.B) {
	for _, m := range []struct {
		name     string
		legacy   bool
		stdBind  bool
		udpBatch int
		sockBuf  int
		copyBuf  int
	}{
		{name: "legacy", legacy: true},
		{name: "new"},
		{name: "std-bind", stdBind: true}, // today's path on wireguard-go's StdNetBind
		{name: "batch-64", udpBatch: 64},
		{name: "kernel-sockbuf", sockBuf: -1}, // the kernel's UDP socket buffers
		{name: "copy-32k", copyBuf: 32 << 10}, // the exposed service's copy at 32 KiB
	} {
		b.Run(m.name, func(b *testing.B) {
			benchEngineThroughput(b, func(c *EngineConfig) {
				c.LegacyDataPath, c.StdBind, c.UDPBatch = m.legacy, m.stdBind, m.udpBatch
				c.UDPSocketBuffer, c.CopyBuffer = m.sockBuf, m.copyBuf
			})
		})
	}
}

func benchEngineThroughput(b *testing.B, mode func(*EngineConfig)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// A node cannot expose its ping port; a listener the system put there
	// failed a run ("cannot expose port 41641").
	for ln.Addr().(*net.TCPAddr).Port == int(PingPort) {
		held := ln
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		held.Close()
	}
	b.Cleanup(func() { ln.Close() })
	received := make(chan int64, 1)
	go benchflow.Sink(ln, received)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	tweak := func(c *EngineConfig) { mode(c); c.Logger = quiet }
	dev := newTestNodeWith(b, 2, "device", nil, tweak, port)
	cli := newTestNodeWith(b, 1, "client", nil, tweak)
	if err := dev.e.Apply(wire.MapResponse{Version: 2, FilterChanged: true, Filter: []filter.Rule{allowFrom(cli, dev, port)}}); err != nil {
		b.Fatal(err)
	}
	dev.addPeers(b, 3, cli.peerOf(time.Time{}))
	cli.addPeers(b, 2, dev.peerOf(time.Time{}))
	ctx, cancel := context.WithTimeout(context.Background(), handshakeWait)
	defer cancel()
	c, err := cli.e.DialPeer(ctx, "device", port)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	defer c.Close()
	benchflow.Send(b, c, received)
}
