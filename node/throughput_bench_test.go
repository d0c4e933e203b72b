package node

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// BenchmarkEngineThroughput moves b.N MiB over one TCP flow from one
// Engine to a service another Engine exposes (the path of `ward node`
// minus the proxy: netstack, filter, pathBind and wireguard-go on loopback
// UDP), on the legacy data path (EngineConfig.LegacyDataPath) and on
// today's. It reports Gbit/s and, on Linux, the CPU seconds per GB of the
// whole process. Profile it with -cpuprofile, one sub-benchmark at a time.
func BenchmarkEngineThroughput(b *testing.B) {
	for _, legacy := range []bool{true, false} {
		name := "new"
		if legacy {
			name = "legacy"
		}
		b.Run(name, func(b *testing.B) { benchEngineThroughput(b, legacy) })
	}
}

func benchEngineThroughput(b *testing.B, legacy bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	tweak := func(c *EngineConfig) { c.LegacyDataPath = legacy; c.Logger = quiet }
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
	chunk := make([]byte, 128<<10)
	b.SetBytes(1 << 20)
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for range 8 {
			if _, err := c.Write(chunk); err != nil {
				b.Fatalf("write: %v", err)
			}
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	n := <-received
	elapsed := time.Since(start)
	b.StopTimer()
	if n != int64(b.N)<<20 {
		b.Fatalf("service got %d bytes, want %d", n, int64(b.N)<<20)
	}
	b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
	if cpu := processCPU(); cpu > 0 {
		b.ReportMetric((cpu-cpu0)/(float64(n)/1e9), "CPU-s/GB")
	}
}

// processCPU returns the process's user plus system CPU seconds from
// /proc/self/stat, or 0 where there is none.
func processCPU() float64 {
	st, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}
