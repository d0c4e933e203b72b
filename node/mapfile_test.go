package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

const testCoordinator = "https://coord.example"

func TestMapFileRoundTrip(t *testing.T) {
	a := newTestNode(t, 1, "cam", nil)
	b := newTestNode(t, 2, "op", nil)
	if err := a.e.Apply(wire.MapResponse{Version: 7, PeersChanged: []wire.Node{b.peerOf(time.Now().Add(time.Hour))},
		FilterChanged: true, Filter: []filter.Rule{allowFrom(b, a, 22)}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := saveMap(dir, savedMap{Coordinator: testCoordinator, Map: a.e.nm.Load().fullMessage()}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, MapFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("map file mode %v, %v; want 600", fi.Mode().Perm(), err)
	}
	sm, err := loadMap(dir, testCoordinator, a.self.ID)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{PrivateKey: a.priv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Apply(sm.Map); err != nil {
		t.Fatalf("apply saved map: %v", err)
	}
	eq := cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})
	if diff := cmp.Diff(a.e.nm.Load().fullMessage(), e.nm.Load().fullMessage(), eq); diff != "" {
		t.Errorf("restored map differs (-saved +restored):\n%s", diff)
	}
}

func TestLoadMapRejects(t *testing.T) {
	self := wire.Node{ID: 1, Name: "cam", IPv4: netip.MustParseAddr("100.64.0.1")}
	full := func(m wire.MapResponse, coordinator string) string {
		b, err := json.Marshal(savedMap{Coordinator: coordinator, Map: m})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := wire.MapResponse{Version: 3, Full: true, Self: &self}
	tests := []struct {
		name string
		body string
		mode os.FileMode
		want error
	}{
		{"no file", "", 0, fs.ErrNotExist},
		{"readable by others", full(good, testCoordinator), 0o644, ErrStatePerms},
		{"not json", "{", 0o600, ErrBadMap},
		{"unknown field", `{"coordinator":"` + testCoordinator + `","extra":1}`, 0o600, ErrBadMap},
		{"delta", full(wire.MapResponse{Version: 3, Self: &self}, testCoordinator), 0o600, ErrBadMap},
		{"no self", full(wire.MapResponse{Version: 3, Full: true}, testCoordinator), 0o600, ErrBadMap},
		{"other node", full(wire.MapResponse{Version: 3, Full: true, Self: &wire.Node{ID: 2}}, testCoordinator), 0o600, errMapOwner},
		{"other coordinator", full(good, "https://other.example"), 0o600, errMapOwner},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.mode != 0 {
			if err := os.WriteFile(filepath.Join(dir, MapFile), []byte(tt.body), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, MapFile), tt.mode); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := loadMap(dir, testCoordinator, self.ID); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MapFile), []byte(full(good, testCoordinator)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadMap(dir, testCoordinator, self.ID); err != nil {
		t.Errorf("good file: %v", err)
	}
}

// A saved map that fails validation is not applied: the node waits for
// the coordinator as if it had none.
func TestRestoreMapSkipsInvalidMap(t *testing.T) {
	dir := t.TempDir()
	a, err := NewAgent(AgentConfig{StateDir: dir, Coordinator: testCoordinator, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.eng.Close()
	a.keys.st.NodeID = 1
	self := wire.Node{ID: 1, IPv4: netip.MustParseAddr("100.64.0.1")}
	bad := wire.MapResponse{Version: 3, Full: true, Self: &self, Peers: []wire.Node{{ID: 2, IPv4: self.IPv4}}}
	b, err := json.Marshal(savedMap{Coordinator: a.client.URL(), Map: bad})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MapFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if nm := a.sess.restoreMap(); nm != nil || a.eng.ListenPort() != 0 || a.eng.MapVersion() != 0 {
		t.Errorf("an invalid saved map was applied")
	}
}

// A node restarted while the coordinator is unreachable brings its data
// plane up from the map it kept, drops the peers whose key expired
// meanwhile, and resumes the map stream from that map's version when the
// coordinator returns.
func TestAgentRestartWithoutCoordinator(t *testing.T) {
	srv := controltest.New(t)
	camPort := startEchoServer(t)
	dir := t.TempDir()
	cfg := AgentConfig{StateDir: dir, AuthKey: srv.AuthKey, Hostname: "cam", Expose: []uint16{camPort}, Logger: failLog(t, "cam")}
	a, stop := runAgent(t, srv, cfg)
	cam := &testNode{self: agentSelf(t, srv, a, 1)}
	op := newTestNode(t, 2, "op", nil)
	gone := expiringPeer(t, 3, time.Now().Add(200*time.Millisecond))
	self := cam.self
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{op.self, gone},
		Filter: []filter.Rule{allowFrom(op, cam, camPort)}, FilterChanged: true})
	cam.self.Endpoints = reportedEndpoints(t, srv)
	op.addPeers(t, 2, cam.self)
	eventuallyWithin(t, handshakeWait, "echo before the restart", func() bool { return echoThrough(op, "cam", camPort, time.Second) == nil })
	eventually(t, "map saved", func() bool {
		sm, err := loadMap(dir, a.client.URL(), self.ID)
		return err == nil && sm.Map.Version == 1
	})
	port := a.eng.ListenPort()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	checkNoPrivateKeys(t, dir, a.keys.st)
	// gone's key expires while the node is down, which also lasts longer
	// than WireGuard's 2^24 ns timestamp step: a peer drops an initiation
	// stamped like the last one it took from the same key as a replay.
	time.Sleep(max(time.Until(gone.KeyExpiry), 50*time.Millisecond))

	start := time.Now()
	cfg.AuthKey = ""
	a2, _ := runAgent(t, srv, cfg)
	eventuallyWithin(t, handshakeWait, "handshake after the restart", func() bool {
		st := op.e.Status()
		return len(st.Peers) == 1 && st.Peers[0].LastHandshake.After(start)
	})
	hs := time.Since(start)
	eventuallyWithin(t, handshakeWait, "echo after the restart", func() bool { return echoThrough(op, "cam", camPort, time.Second) == nil })
	t.Logf("restart without coordinator to handshake: %v, to first echo: %v (listen port %d, before %d)",
		hs.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), a2.eng.ListenPort(), port)
	if a2.sess.connected.Load() {
		t.Error("connected to a stopped coordinator")
	}
	for _, p := range a2.Status().Peers {
		if p.Name == gone.Name && p.Active {
			t.Errorf("peer %s with an expired key is active", p.Name)
		}
	}

	srv.Restart(t)
	eventually(t, "reconnect", func() bool { return a2.sess.connected.Load() })
	if s := srv.Sinces(); s[len(s)-1] != 1 {
		t.Errorf("map stream resumed since %d, want 1 (all: %v)", s[len(s)-1], s)
	}
	srv.Publish(wire.MapResponse{Version: 2, PeersRemoved: []wire.NodeID{gone.ID}})
	eventually(t, "delta after the resume", func() bool { return a2.eng.MapVersion() == 2 })
}

// expiringPeer is a peer 100.64.0.N whose key expires at exp.
func expiringPeer(t *testing.T, n byte, exp time.Time) wire.Node {
	t.Helper()
	k, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return wire.Node{ID: wire.NodeID(n), Name: "gone", WGKey: k.Public(), KeyExpiry: exp,
		IPv4: netip.AddrFrom4([4]byte{100, 64, 0, n})}
}

// checkNoPrivateKeys checks MapFile's mode and that it holds none of st's
// private keys.
func checkNoPrivateKeys(t *testing.T, dir string, st *State) {
	t.Helper()
	path := filepath.Join(dir, MapFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("map file mode %v, %v; want 600", fi.Mode().Perm(), err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][32]byte{st.MachineKey, st.WGKey, st.NextWGKey} {
		if k != ([32]byte{}) && strings.Contains(strings.ToLower(string(b)), hex.EncodeToString(k[:])) {
			t.Error("the map file holds a private key")
		}
	}
}

func TestAgentReportsChangedExposedPorts(t *testing.T) {
	srv := controltest.New(t)
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, Expose: []uint16{8080, 22}})
	self := agentSelf(t, srv, a, 1)
	self.ExposedPorts = []uint16{22} // registered by an earlier run
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self})
	eventually(t, "exposed ports report", func() bool {
		for _, r := range srv.Reports() {
			if slices.Equal(r.ExposedPorts, []uint16{22, 8080}) {
				return true
			}
		}
		return false
	})
}

// A coordinator that predates Report.ExposedPorts refuses them; the
// endpoints still get through, and the ports are not sent again.
func TestAgentExposedPortsToOldCoordinator(t *testing.T) {
	srv := controltest.New(t)
	srv.OldReports = true
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey, Expose: []uint16{8080, 22}})
	self := agentSelf(t, srv, a, 1)
	self.ExposedPorts = []uint16{22}
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self})
	reportedEndpoints(t, srv)
	eventually(t, "ports given up", func() bool { return a.sess.portsSent.Load() && !a.sess.needPorts.Load() })
	srv.Publish(wire.MapResponse{Version: 2, Self: &self})
	eventually(t, "second map applied", func() bool { return a.eng.MapVersion() == 2 })
	if a.sess.needPorts.Load() {
		t.Error("refused ports asked for again")
	}
}

func TestCheckExposed(t *testing.T) {
	tests := []struct {
		name       string
		configured []uint16
		registered []uint16
		sent       bool
		want       bool
	}{
		{"same", []uint16{22, 8080}, []uint16{8080, 22}, false, false},
		{"added", []uint16{22, 8080}, []uint16{22}, false, true},
		{"removed", []uint16{22}, []uint16{22, 8080}, false, true},
		{"already sent", []uint16{22, 8080}, []uint16{22}, true, false},
		{"none configured", nil, []uint16{22}, false, false},
	}
	for _, tt := range tests {
		s := newSession(sessionConfig{expose: tt.configured})
		s.portsSent.Store(tt.sent)
		s.checkExposed(tt.registered)
		if got := s.needPorts.Load(); got != tt.want {
			t.Errorf("%s: ports requested %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEnginePrefersLastListenPort(t *testing.T) {
	free := func() uint16 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name    string
		hint    uint16
		useHint bool
	}{
		{"free", free(), true},
		{"taken", uint16(taken.LocalAddr().(*net.UDPAddr).Port), false},
	}
	for _, tt := range tests {
		priv, err := wire.NewWGPrivate()
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(EngineConfig{PrivateKey: priv, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		e.preferListenPort(tt.hint)
		self := wire.Node{ID: 1, WGKey: priv.Public(), IPv4: netip.MustParseAddr("100.64.0.1")}
		if err := e.Apply(wire.MapResponse{Version: 1, Full: true, Self: &self}); err != nil {
			t.Errorf("%s: apply: %v", tt.name, err)
		}
		if got := e.ListenPort(); got == 0 || (got == tt.hint) != tt.useHint {
			t.Errorf("%s: listen port %d, hint %d, want hint used: %v", tt.name, got, tt.hint, tt.useHint)
		}
		e.Close()
	}
}
