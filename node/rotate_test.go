package node

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

// logBuffer is a debug logger whose text the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{&l.mu, &l.buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count returns how many lines at level contain s.
func (l *logBuffer) count(level, s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level="+level) && strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// TestRotationRefused403BacksOffAndShowsReason: when the coordinator
// refuses a rotation with 403 (an admin expired or removed the node), the
// agent logs the reason once at WARN, shows it in its status, and asks
// again only after a long wait, or once per change of the node in the map
// (an admin's approval); once accepted, the refusal is cleared.
func TestRotationRefused403BacksOffAndShowsReason(t *testing.T) {
	const reason = "node key was expired by an admin; re-approve it or register with a new pre-auth key"
	srv := controltest.New(t)
	srv.RefuseRotations(http.StatusForbidden, reason, "")
	logs := &logBuffer{}
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, RotateEvery: 50 * time.Millisecond,
		Logger: logs.logger()})
	self := agentSelf(t, srv, a, 1)
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self})
	eventually(t, "the map applied", func() bool { return a.eng.MapVersion() == 1 })
	eventually(t, "the reason in the status", func() bool { return a.Status().KeyRefused == reason })
	first := a.eng.PublicKey()
	quiet := func(want int) {
		t.Helper()
		time.Sleep(3 * kickFloor / 2)
		if n := len(srv.Rotations()); n != want {
			t.Fatalf("%d rotate requests, want %d: the agent does not back off after a 403", n, want)
		}
	}
	// The first map may have come after the first refusal, and so made
	// one more attempt; from then on, nothing changes and nothing comes.
	time.Sleep(3 * kickFloor / 2)
	n0 := len(srv.Rotations())
	if n0 < 1 || n0 > 2 {
		t.Fatalf("%d rotate requests after the first map, want 1 or 2", n0)
	}
	quiet(n0)
	// The node changes in the map, as an admin's approval changes it:
	// one more attempt, refused again, and no more.
	changeSelf := func(v uint64) {
		self.Endpoints = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+v))}
		s := self
		srv.Publish(wire.MapResponse{Version: v, Self: &s})
	}
	changeSelf(2)
	eventually(t, "an attempt after the node changed", func() bool { return len(srv.Rotations()) == n0+1 })
	quiet(n0 + 1)
	if n := logs.count("WARN", "expired by an admin"); n != 1 {
		t.Errorf("the reason was logged %d times at WARN, want once:\n%s", n, logs)
	}
	if a.eng.PublicKey() != first {
		t.Error("the agent switched keys without the coordinator's consent")
	}
	srv.RefuseRotations(0, "", "")
	changeSelf(3)
	eventually(t, "a rotation once accepted", func() bool { return a.eng.PublicKey() != first })
	if r := a.Status().KeyRefused; r != "" {
		t.Errorf("status still shows a refusal after an accepted rotation: %q", r)
	}
}

// TestRotationRateLimited429HonoursRetryAfter: a 429 makes the agent wait
// what Retry-After says (1 s here, far below the usual 30 s retry), and
// not less.
func TestRotationRateLimited429HonoursRetryAfter(t *testing.T) {
	srv := controltest.New(t)
	srv.RefuseRotations(http.StatusTooManyRequests, "too many rotations", "1")
	var mu sync.Mutex
	var times []time.Time
	logs := &logBuffer{}
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, RotateEvery: 50 * time.Millisecond,
		Logger: logs.logger()})
	agentSelf(t, srv, a, 1)
	eventually(t, "two rotate requests", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if n := len(srv.Rotations()); n > len(times) {
			times = append(times, time.Now())
		}
		return len(srv.Rotations()) >= 2
	})
	mu.Lock()
	gap := times[len(times)-1].Sub(times[0])
	mu.Unlock()
	if gap < 900*time.Millisecond {
		t.Errorf("second request %v after the first, want at least Retry-After (1 s)", gap)
	}
	if a.Status().KeyRefused != "" {
		t.Errorf("a 429 shows as a refusal: %q", a.Status().KeyRefused)
	}
	srv.RefuseRotations(0, "", "")
	first := a.eng.PublicKey()
	eventually(t, "a rotation once accepted", func() bool { return a.eng.PublicKey() != first })
}

// TestAgentLogsCoordinatorErrorNotUnreachable pins the low item "a node
// reports a 500 as coordinator unreachable" at the agent: its
// registration retries say the coordinator failed, with its message.
func TestAgentLogsCoordinatorErrorNotUnreachable(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":"storage unavailable"}`))
	}))
	defer failing.Close()
	logs := &logBuffer{}
	a, err := NewAgent(AgentConfig{StateDir: t.TempDir(), Coordinator: failing.URL, AllowInsecureHTTP: true,
		AuthKey: "k", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "a registration retry", func() bool { return logs.count("WARN", "retrying") > 0 })
	cancel()
	<-done
	if logs.count("WARN", "coordinator error: 500 Internal Server Error: storage unavailable") == 0 || strings.Contains(logs.String(), "unreachable") {
		t.Errorf("retry log does not tell a server error:\n%s", logs)
	}
}
