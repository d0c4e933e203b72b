package node

import (
	"runtime"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control/controltest"
)

// TestNoGoroutineLeak runs an agent with a data plane and a peer, stops
// everything, and checks that the goroutine count returns to where it
// was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("run", func(t *testing.T) {
		srv := controltest.New(t)
		_, stop := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, SOCKS5: "127.0.0.1:0"})
		p := newPair(t, time.Time{})
		if err := echoThrough(p.b, "cam", p.open, deadline); err != nil {
			t.Fatal(err)
		}
		eventually(t, "agent registration", func() bool { return srv.NodeCount() == 1 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
	var now int
	stop := time.Now().Add(deadline)
	for {
		runtime.GC()
		if now = runtime.NumGoroutine(); now <= before || time.Now().After(stop) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, now, buf[:runtime.Stack(buf, true)])
	}
}
