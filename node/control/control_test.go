package control_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

// wait bounds every wait for something that must happen.
const wait = 10 * time.Second

func newClient(t *testing.T, srv *controltest.Server) (*control.Client, wire.MachinePrivate) {
	t.Helper()
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk,
		Backoff: control.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}, MapIdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c, mk
}

func TestNewChecksURL(t *testing.T) {
	tests := []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://coord.example.com", false, true},
		{"https://coord.example.com:8443/prefix/", false, true},
		{"http://127.0.0.1:8080", true, true},
		{"http://[::1]:8080", true, true},
		{"http://localhost:8080", true, true},
		{"http://127.0.0.1:8080", false, false},
		{"http://coord.example.com", true, false},
		{"ftp://coord.example.com", true, false},
		{"https://user:pw@coord.example.com", false, false},
		{"coord.example.com", false, false},
	}
	for _, tt := range tests {
		_, err := control.New(control.Config{URL: tt.url, AllowInsecureHTTP: tt.allowHTTP})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, allowHTTP=%v) err = %v, want ok=%v", tt.url, tt.allowHTTP, err, tt.ok)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := control.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	tests := []struct {
		attempt  int
		lo, high time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{20, 5 * time.Second, 10 * time.Second},
		{1000, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := b.Delay(tt.attempt); d < tt.lo || d > tt.high {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.lo, tt.high)
			}
		}
	}
}

func TestSessionAndRegister(t *testing.T) {
	srv := controltest.New(t)
	c, mk := newClient(t, srv)
	ctx := context.Background()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	if s.Registered {
		t.Fatal("new machine reported as registered")
	}
	wg, _ := wire.NewWGPrivate()
	tests := []struct {
		name    string
		key     string
		wantErr bool
	}{
		{"bad key", "nope", true},
		{"good key", srv.AuthKey, false},
	}
	for _, tt := range tests {
		n, err := c.Register(ctx, wire.RegisterRequest{AuthKey: tt.key, WGKey: wg.Public(), Hostname: "cam1"})
		if tt.wantErr {
			var ae *control.APIError
			if !errors.As(err, &ae) || ae.Status != 403 || ae.Message != "invalid auth key" || !ae.Permanent() {
				t.Errorf("%s: err = %v, want 403 invalid auth key", tt.name, err)
			}
			continue
		}
		if err != nil || n.Name != "cam1" || n.WGKey != wg.Public() {
			t.Errorf("%s: node %+v, err %v", tt.name, n, err)
		}
	}
	if _, ok := srv.Node(mk.Public()); !ok {
		t.Fatal("server has no node for the machine key")
	}
}

func TestTLS(t *testing.T) {
	srv := controltest.NewTLS(t)
	mk, _ := wire.NewMachinePrivate()
	tests := []struct {
		name  string
		roots *x509.CertPool
		ok    bool
	}{
		{"untrusted certificate", nil, false},
		{"trusted certificate", poolOf(srv.Certificate()), true},
	}
	for _, tt := range tests {
		c, err := control.New(control.Config{URL: srv.URL, MachineKey: mk, RootCAs: tt.roots})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Session(context.Background()); (err == nil) != tt.ok {
			t.Errorf("%s: session err = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func poolOf(cert *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p
}

func TestRetryAfter401(t *testing.T) {
	srv := controltest.New(t)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	ep := netip.MustParseAddrPort("127.0.0.1:41000")
	if err := c.Report(ctx, wire.Report{Endpoints: []netip.AddrPort{ep}}); err != nil {
		t.Fatalf("first report: %v", err)
	}
	srv.RevokeTokens()
	if err := c.Report(ctx, wire.Report{Endpoints: []netip.AddrPort{ep}}); err != nil {
		t.Fatalf("report after token revocation: %v", err)
	}
	if got := len(srv.Reports()); got != 2 {
		t.Fatalf("server got %d reports, want 2", got)
	}
	r, err := c.Rotate(ctx, wire.WGPublic{1})
	if err != nil || r.SwitchAt.IsZero() {
		t.Fatalf("rotate: %+v, %v", r, err)
	}
}

// recorder is a MapHandler that records what it gets.
type recorder struct {
	msgs chan wire.MapResponse
	// fail, when set, makes HandleMap fail for this version once.
	mu   sync.Mutex
	fail uint64
	conn chan bool
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan wire.MapResponse, 100), conn: make(chan bool, 100)}
}

// followMap follows c's map stream into a new recorder until the test
// ends.
func followMap(t *testing.T, c *control.Client) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- c.FollowMap(ctx, 0, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	return rec
}

func (r *recorder) HandleMap(m wire.MapResponse) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Version == r.fail {
		r.fail = 0
		return errors.New("injected failure")
	}
	r.msgs <- m
	return nil
}

func (r *recorder) SetConnected(b bool) { r.conn <- b }

func (r *recorder) next(t *testing.T) wire.MapResponse {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no map message")
		return wire.MapResponse{}
	}
}

func TestFollowMap(t *testing.T) {
	srv := controltest.New(t)
	c, _ := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	srv.FailMaps(2)
	go func() { done <- c.FollowMap(ctx, 0, rec) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("FollowMap returned %v", err)
		}
	}()

	self := &wire.Node{ID: 1, Name: "cam1"}
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: self})
	srv.Publish(wire.MapResponse{Version: 2, PeersChanged: []wire.Node{{ID: 2, Name: "op"}}})
	var got []uint64
	for range 2 {
		got = append(got, rec.next(t).Version)
	}
	// Keep-alives flow (every 50 ms) but are not handed over; the
	// next message the handler sees is the next change.
	srv.DropStreams()
	srv.Publish(wire.MapResponse{Version: 3, PeersRemoved: []wire.NodeID{2}})
	got = append(got, rec.next(t).Version)

	// A handler failure restarts from scratch.
	rec.mu.Lock()
	rec.fail = 4
	rec.mu.Unlock()
	srv.Publish(wire.MapResponse{Version: 4, PeersRemoved: []wire.NodeID{5}})
	for range 4 {
		got = append(got, rec.next(t).Version)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 1, 2, 3, 4}, got); diff != "" {
		t.Errorf("versions handled (-want +got):\n%s", diff)
	}
	// The client says how long it waits on a silent stream, so that the
	// coordinator paces keep-alives to it (2s: newClient's).
	for i, idle := range srv.Idles() {
		if idle != "2000" {
			t.Errorf("map request %d: idle parameter %q, want 2000", i, idle)
		}
	}
	sinces := srv.Sinces()
	want := []uint64{0, 0, 0, 2, 0}
	if diff := cmp.Diff(want, sinces[:min(len(sinces), len(want))]); diff != "" {
		t.Errorf("since parameters (-want +got):\n%s", diff)
	}
}

// TestFollowMapHonoursRetryAfter: a map request the coordinator refuses
// with a Retry-After (it admits streams at a bounded rate after a
// restart) is not retried before then, whatever the backoff says
// (newClient's is milliseconds).
func TestFollowMapHonoursRetryAfter(t *testing.T) {
	srv := controltest.New(t)
	c, _ := newClient(t, srv)
	srv.RefuseMaps(1, "1")
	rec := followMap(t, c)
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "cam1"}})
	rec.next(t)
	at := srv.MapTimes()
	if len(at) < 2 {
		t.Fatalf("%d map requests, want the refused one and the next", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < time.Second {
		t.Errorf("retried %v after a refusal with Retry-After: 1, want >= 1s", gap)
	}
}

// TestMapReadBuffer: a map message far longer than a small read buffer
// (Config.MapReadBuffer) arrives whole, and a buffer too small to read
// with is refused.
func TestMapReadBuffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		buf     int
		wantErr bool
	}{
		{name: "default", buf: 0},
		{name: "small", buf: 64},
		{name: "too small", buf: 8, wantErr: true},
		{name: "negative", buf: -1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := controltest.New(t)
			mk, err := wire.NewMachinePrivate()
			if err != nil {
				t.Fatal(err)
			}
			c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk,
				MapReadBuffer: tc.buf, Backoff: control.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("New with a %d-byte map read buffer: no error", tc.buf)
				}
				return
			}
			if err != nil {
				t.Fatalf("new client: %v", err)
			}
			rec := followMap(t, c)
			var peers []wire.Node
			var want []string
			for i := range 200 {
				peers = append(peers, wire.Node{ID: wire.NodeID(i + 2), Name: fmt.Sprintf("sensor-%d", i)})
				want = append(want, fmt.Sprintf("%d %s", i+2, peers[i].Name))
			}
			srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw"}, Peers: peers})
			var got []string
			for _, p := range rec.next(t).Peers {
				got = append(got, fmt.Sprintf("%d %s", p.ID, p.Name))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("peers of a message longer than the buffer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMapGate: with every slot of Config.MapGate taken, a message that
// arrived waits (and its stream is not ended as idle meanwhile, however
// long past MapIdleTimeout); once a slot frees it is handled, and the
// slot is given back. An unbuffered gate is refused.
func TestMapGate(t *testing.T) {
	srv := controltest.New(t)
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk,
		MapGate: make(chan struct{})}); err == nil {
		t.Fatal("New with an unbuffered map gate: no error")
	}
	gate := make(chan struct{}, 1)
	gate <- struct{}{} // another stream holds the only slot
	c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk, MapGate: gate,
		MapIdleTimeout: 200 * time.Millisecond, Backoff: control.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	rec := followMap(t, c)
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw"}})
	select {
	case m := <-rec.msgs:
		t.Fatalf("message %d handled while the gate was full", m.Version)
	case <-time.After(time.Second): // five idle timeouts
	}
	<-gate
	if v := rec.next(t).Version; v != 1 {
		t.Errorf("handled version %d, want 1", v)
	}
	// The stream that waited lives on (keep-alives every 50 ms, idle
	// after 200 ms): its wait did not count as silence.
	time.Sleep(500 * time.Millisecond)
	if n := len(srv.MapTimes()); n != 1 {
		t.Errorf("%d map requests, want 1 (the stream that waited for a slot ended as idle)", n)
	}
	// The stream gives its slot back after each message (keep-alives
	// come every 50 ms), so another can take it.
	select {
	case gate <- struct{}{}:
	case <-time.After(wait):
		t.Fatal("the stream kept its slot")
	}
	<-gate
}

// TestFollowMapBinaryPeers: from a coordinator that sends peers in binary
// (wire.FeatureBinaryPeers) the client reads the blocks after the line,
// through a read buffer far smaller than them, and hands the handler the
// peers its JSON would give; blocks that are not what the line says end
// the stream before the handler sees the message, and the next stream
// starts from scratch.
func TestFollowMapBinaryPeers(t *testing.T) {
	for _, bad := range []bool{false, true} {
		srv := controltest.New(t)
		srv.BinaryPeers, srv.BadBinary = true, bad
		mk, err := wire.NewMachinePrivate()
		if err != nil {
			t.Fatal(err)
		}
		c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk,
			MapReadBuffer: 64, Backoff: control.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		var peers []wire.Node
		for i := range 200 {
			peers = append(peers, wire.Node{ID: wire.NodeID(i + 2), Name: fmt.Sprintf("sensor-%d", i), Tags: []string{"tag:sensor"},
				Grants: []filter.PortGrant{}, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:41641")}})
		}
		srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw"}, Peers: peers})
		srv.Publish(wire.MapResponse{Version: 2, PeersChanged: peers[:3], PeersRemoved: []wire.NodeID{9}})
		if bad {
			var h counter
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.FollowMap(ctx, 0, &h) }()
			deadline := time.Now().Add(wait)
			for fromScratch(srv) < 3 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			if n := fromScratch(srv); n < 3 || h.n.Load() != 0 {
				t.Fatalf("bad blocks: %d streams from scratch, the handler got %d messages", n, h.n.Load())
			}
			continue
		}
		rec := followMap(t, c)
		full, delta := rec.next(t), rec.next(t)
		if !reflect.DeepEqual(peers, full.Peers) || full.PeersBin != 0 {
			t.Fatalf("full map's peers: %+v", full.Peers)
		}
		if len(delta.PeersChanged) != 3 || delta.PeersChanged[2].Name != "sensor-2" || len(delta.PeersRemoved) != 1 || delta.PeersChangedBin != 0 {
			t.Fatalf("delta: %+v", delta)
		}
	}
}

// fromScratch counts the map streams srv saw start from scratch.
func fromScratch(srv *controltest.Server) int {
	n := 0
	for _, s := range srv.Sinces() {
		if s == 0 {
			n++
		}
	}
	return n
}

// counter is a map handler that counts messages.
type counter struct{ n atomic.Int64 }

func (h *counter) HandleMap(wire.MapResponse) error { h.n.Add(1); return nil }
func (h *counter) SetConnected(bool)                {}
