package coordinator

import (
	"bufio"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestParkedStreamStackStaysSmall: a map stream parked after its first map
// and a few keep-alives holds a small stack. Its work runs on the offload
// pool's goroutines; run on the handler goroutine it grew the stack to
// 16 KB or more (the runtime halves a stack only while under a quarter of
// it is in use, and a parked stream uses a few KB), which at 50,000
// streams was 950 MB. The figure counts both ends: the HTTP/2 client in
// this process keeps a goroutine per open stream too. Measured: 23 KB a
// stream with the work on the handler goroutines, 13.6 to 16.5 KB (17 KB
// under the race detector) with it offloaded.
func TestParkedStreamStackStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 300 streams")
	}
	const streams = 300
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.KeepAlive = 20 * time.Millisecond
	})
	c.mustRegister([]string{"tag:camera"}, "cam")
	ms := make([]*machine, streams)
	for i := range ms {
		ms[i] = c.mustRegister([]string{"tag:operator"}, fmt.Sprintf("op%d", i))
	}
	cl := h2cClient(1 << 20)
	defer cl.CloseIdleConnections()
	// One stream first, so the connection's goroutines are not counted.
	first := openRaw(t, c, cl, ms[0])
	if _, err := bufio.NewReader(first.Body).ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}
	before := stackInuse()
	for _, m := range ms[1:] {
		resp := openRaw(t, c, cl, m)
		if _, err := bufio.NewReader(resp.Body).ReadBytes('\n'); err != nil { // its first map
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // keep-alives written
	per := (stackInuse() - before) / (streams - 1)
	t.Logf("%d B of stack per parked stream", per)
	if per > 20<<10 {
		t.Errorf("%d B of stack per parked stream (both ends), want at most 20 KiB", per)
	}
}

// stackInuse is the goroutine stacks' memory after two collections (each
// may shrink a stack by half).
func stackInuse() int64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}
