package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// runAgent starts an agent against srv and returns it and a stop
// function that waits for Run to return.
func runAgent(t *testing.T, srv *controltest.Server, cfg AgentConfig) (*Agent, func() error) {
	t.Helper()
	cfg.Coordinator, cfg.AllowInsecureHTTP = srv.URL, true
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.Backoff = control.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatalf("new agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(deadline):
			t.Fatal("agent did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return a, stop
}

// agentSelf waits for the agent's registration and returns its node with
// overlay addresses 100.64.0.N.
func agentSelf(t *testing.T, srv *controltest.Server, a *Agent, n byte) wire.Node {
	t.Helper()
	var self wire.Node
	eventually(t, "registration", func() bool {
		var ok bool
		self, ok = srv.Node(a.keys.st.MachineKey.Public())
		return ok
	})
	self.IPv4 = netip.AddrFrom4([4]byte{100, 64, 0, n})
	self.IPv6 = netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 15: n})
	return self
}

// reportedEndpoint waits for a report with endpoints and returns them.
func reportedEndpoints(t *testing.T, srv *controltest.Server) []netip.AddrPort {
	t.Helper()
	var eps []netip.AddrPort
	eventually(t, "endpoint report", func() bool {
		for _, r := range srv.Reports() {
			if len(r.Endpoints) > 0 {
				eps = r.Endpoints
				return true
			}
		}
		return false
	})
	return eps
}

func TestAgentEndToEnd(t *testing.T) {
	srv := controltest.New(t)
	camPort, opPort := startEchoServer(t), startEchoServer(t)
	socksAddr := net.JoinHostPort("127.0.0.1", itoa(freePort(t)))
	dir := t.TempDir()
	a, stop := runAgent(t, srv, AgentConfig{StateDir: dir, AuthKey: srv.AuthKey, Hostname: "cam", Expose: []uint16{camPort}, SOCKS5: socksAddr})
	cam := &testNode{self: agentSelf(t, srv, a, 1)}
	op := newTestNode(t, 2, "op", nil, opPort)

	self := cam.self
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{op.self},
		Filter: []filter.Rule{allowFrom(op, cam, camPort)}, FilterChanged: true})
	cam.self.Endpoints = reportedEndpoints(t, srv)
	if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.eng.ListenPort()); cam.self.Endpoints[0] != want {
		t.Fatalf("reported endpoints %v, want %v first", cam.self.Endpoints, want)
	}
	if err := op.e.Apply(wire.MapResponse{Version: 2, PeersChanged: []wire.Node{cam.self}, FilterChanged: true,
		Filter: []filter.Rule{allowFrom(cam, op, opPort)}}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, handshakeWait, "handshake", func() bool {
		st := op.e.Status()
		return len(st.Peers) == 1 && !st.Peers[0].LastHandshake.IsZero()
	})

	t.Run("allowed flow reaches the exposed port", func(t *testing.T) {
		// handshakeWait, not deadline: the handshake seen above may be
		// the responder's half of two that crossed, and the first data
		// then waits for wireguard-go's retry.
		if err := echoThrough(op, "cam", camPort, handshakeWait); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("denied flow is reported", func(t *testing.T) {
		if err := echoThrough(op, "cam", opPort, noAnswer); err == nil {
			t.Fatal("denied flow passed")
		}
		eventually(t, "denied flow report", func() bool {
			for _, r := range srv.Reports() {
				for _, d := range r.DeniedFlows {
					if d.Src == op.self.IPv4 && d.Port == opPort && d.Count >= 1 {
						return true
					}
				}
			}
			return false
		})
	})
	api := &localapi.Client{Socket: a.SocketPath()}
	ctx := context.Background()
	t.Run("local api status", func(t *testing.T) {
		st, err := api.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Connected || st.Self.Name != "cam" || st.Self.IPv4 != cam.self.IPv4 || len(st.Peers) != 1 || st.Peers[0].Name != "op" || !st.Peers[0].Active || st.Filter.Denied == 0 {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("local api ping", func(t *testing.T) {
		res, err := api.Ping(ctx, "op", deadline)
		if err != nil || res.RTT <= 0 || res.Addr != op.self.IPv4 {
			t.Errorf("ping: %+v, %v", res, err)
		}
		if _, err := api.Ping(ctx, "nobody", time.Second); err == nil {
			t.Error("ping of an unknown peer succeeded")
		}
	})
	t.Run("local api dial", func(t *testing.T) {
		c, err := api.Dial(ctx, "op", opPort)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := roundTrip(c, "via local api"); err != nil || got != "via local api" {
			t.Errorf("round trip: %q, %v", got, err)
		}
		if _, err := api.Dial(ctx, "nobody", opPort); err == nil {
			t.Error("dial of an unknown peer succeeded")
		}
	})
	t.Run("socks5", func(t *testing.T) {
		c := socksConnect(t, socksAddr, "op", opPort)
		defer c.Close()
		if got, err := roundTrip(c, "via socks5"); err != nil || got != "via socks5" {
			t.Errorf("round trip: %q, %v", got, err)
		}
	})
	t.Run("data plane survives the coordinator", func(t *testing.T) {
		srv.FailMaps(1 << 30)
		srv.DropStreams()
		eventually(t, "disconnect", func() bool { return !a.sess.connected.Load() })
		if err := echoThrough(op, "cam", camPort, deadline); err != nil {
			t.Fatal(err)
		}
	})

	if err := stop(); err != nil {
		t.Fatalf("agent run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, localapi.SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestAgentRestartReusesState(t *testing.T) {
	srv := controltest.New(t)
	dir := t.TempDir()
	a, stop := runAgent(t, srv, AgentConfig{StateDir: dir, AuthKey: srv.AuthKey})
	agentSelf(t, srv, a, 1)
	// The coordinator records the node before the agent reads its answer
	// and saves it: wait for the save, not only the registration.
	eventually(t, "state saved", func() bool {
		st, err := LoadState(dir)
		return err == nil && st.NodeID != 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	before, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before.NodeID == 0 || before.Coordinator != srv.URL {
		t.Errorf("state after registration: id %d coordinator %q", before.NodeID, before.Coordinator)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, %v", fi.Mode().Perm(), err)
	}
	// No auth key this time: the state alone must do.
	a2, stop2 := runAgent(t, srv, AgentConfig{StateDir: dir})
	eventually(t, "reconnect", func() bool { return a2.sess.connected.Load() })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if a2.keys.st.MachineKey != before.MachineKey || a2.keys.st.WGKey != before.WGKey || srv.NodeCount() != 1 {
		t.Error("restart did not reuse the keys and registration")
	}
}

func TestAgentNeedsAuthKey(t *testing.T) {
	srv := controltest.New(t)
	a, err := NewAgent(AgentConfig{StateDir: t.TempDir(), Coordinator: srv.URL, AllowInsecureHTTP: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := a.Run(ctx); !errors.Is(err, ErrNeedAuthKey) {
		t.Fatalf("run without key: %v, want ErrNeedAuthKey", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned the refusal only when its context ended: it must stop at once")
	}
}

func TestAgentRotatesKey(t *testing.T) {
	srv := controltest.New(t)
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, RotateEvery: 300 * time.Millisecond})
	first := a.eng.PublicKey()
	var announced wire.WGPublic
	eventually(t, "rotation request", func() bool {
		rs := srv.Rotations()
		if len(rs) > 0 {
			announced = rs[0].WGKey
		}
		return len(rs) > 0
	})
	eventually(t, "key switch", func() bool { return a.eng.PublicKey() != first })
	if got := a.eng.PublicKey(); got != announced && len(srv.Rotations()) == 1 {
		t.Errorf("switched to %v, announced %v", got.ShortString(), announced.ShortString())
	}
}

func TestRotationTime(t *testing.T) {
	c := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		expiry time.Time
		every  time.Duration
		want   time.Time
		ok     bool
	}{
		{"none", time.Time{}, 0, time.Time{}, false},
		{"75% of life", c.Add(24 * time.Hour), 0, c.Add(18 * time.Hour), true},
		{"interval first", c.Add(24 * time.Hour), time.Hour, c.Add(time.Hour), true},
		{"fraction first", c.Add(time.Hour), 24 * time.Hour, c.Add(45 * time.Minute), true},
		{"interval only", time.Time{}, time.Hour, c.Add(time.Hour), true},
	}
	for _, tt := range tests {
		got, ok := rotationTime(c, tt.expiry, tt.every, 0.75)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// socksConnect opens a SOCKS5 CONNECT to host:port through addr.
func socksConnect(t *testing.T, addr, host string, port uint16) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(deadline))
	req := append([]byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}, host...)
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:2+10]); err != nil || rep[1] != 0 || rep[3] != 0 {
		t.Fatalf("socks5 reply %v, %v", rep, err)
	}
	c.SetDeadline(time.Time{})
	return c
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestAgentRecordsIdentityFromMap: a device stopped after the coordinator
// registered it but before it saved the answer comes back with an empty
// identity; its first map fills it in, so later restarts restore the saved
// map.
func TestAgentRecordsIdentityFromMap(t *testing.T) {
	srv := controltest.New(t)
	dir := t.TempDir()
	a, stop := runAgent(t, srv, AgentConfig{StateDir: dir, AuthKey: srv.AuthKey})
	self := agentSelf(t, srv, a, 1)
	eventually(t, "state saved", func() bool {
		st, err := LoadState(dir)
		return err == nil && st.NodeID != 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The crash window: the coordinator knows the node, the state does not.
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.NodeID, st.Name, st.Coordinator = 0, "", ""
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}

	a2, stop2 := runAgent(t, srv, AgentConfig{StateDir: dir})
	defer stop2()
	eventually(t, "map stream", func() bool { return a2.sess.connected.Load() })
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self, Filter: []filter.Rule{}, FilterChanged: true})
	eventually(t, "identity saved from the map", func() bool {
		st, err := LoadState(dir)
		return err == nil && st.NodeID == self.ID && st.Name == self.Name && st.Coordinator == srv.URL
	})
}
