// Package benchflow moves a throughput benchmark's data over one
// connection and reports the figures: the data path benchmarks of netstack
// and node share it.
package benchflow

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// PerOp is the data moved per b.N, Chunk one write.
	PerOp = 1 << 20
	Chunk = 128 << 10
)

// Sink accepts one connection on l, discards it to EOF and sends the byte
// count to received (-1 when the accept fails).
func Sink(l net.Listener, received chan<- int64) {
	c, err := l.Accept()
	if err != nil {
		received <- -1
		return
	}
	defer c.Close()
	n, _ := io.Copy(io.Discard, c)
	received <- n
}

// Send writes b.N times PerOp bytes to c, half-closes it, waits for the
// sink's count on received and reports Gbit/s and, where /proc/self/stat
// exists, the process's CPU seconds per GB. c must have CloseWrite.
func Send(b *testing.B, c net.Conn, received <-chan int64) {
	chunk := make([]byte, Chunk)
	b.SetBytes(PerOp)
	cpu0 := ProcessCPU()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for range PerOp / Chunk {
			if _, err := c.Write(chunk); err != nil {
				b.Fatalf("write: %v", err)
			}
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	n := <-received
	elapsed := time.Since(start)
	b.StopTimer()
	if want := int64(b.N) * PerOp; n != want {
		b.Fatalf("sink got %d bytes, want %d", n, want)
	}
	b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
	if cpu := ProcessCPU(); cpu > 0 {
		b.ReportMetric((cpu-cpu0)/(float64(n)/1e9), "CPU-s/GB")
	}
}

// ProcessCPU returns the process's user plus system CPU seconds from
// /proc/self/stat, or 0 where there is none.
func ProcessCPU() float64 {
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
