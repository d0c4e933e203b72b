package node

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/wire"
)

// fakeTUN is a tun.Device whose Read blocks until Close.
type fakeTUN struct {
	events    chan tun.Event
	done      chan struct{}
	closeOnce sync.Once
}

var _ tun.Device = (*fakeTUN)(nil)

func newFakeTUN() *fakeTUN {
	f := &fakeTUN{events: make(chan tun.Event, 1), done: make(chan struct{})}
	f.events <- tun.EventUp
	return f
}

func (*fakeTUN) File() *os.File                          { return nil }
func (*fakeTUN) MTU() (int, error)                       { return 1280, nil }
func (*fakeTUN) Name() (string, error)                   { return "fake0", nil }
func (f *fakeTUN) Events() <-chan tun.Event              { return f.events }
func (*fakeTUN) BatchSize() int                          { return 1 }
func (*fakeTUN) Write(bufs [][]byte, _ int) (int, error) { return len(bufs), nil }

func (f *fakeTUN) Read([][]byte, []int, int) (int, error) {
	<-f.done
	return 0, os.ErrClosed
}

func (f *fakeTUN) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		close(f.events)
	})
	return nil
}

func TestEngineRunsOverCallersTUN(t *testing.T) {
	priv, _ := wire.NewWGPrivate()
	var opened []wire.Node
	var devs []*fakeTUN
	open := func(self wire.Node) (tun.Device, error) {
		opened = append(opened, self)
		devs = append(devs, newFakeTUN())
		return devs[len(devs)-1], nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := NewEngine(EngineConfig{PrivateKey: priv, TUN: open, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	self := newTestNode(t, 7, "laptop", nil).self
	self.WGKey = priv.Public()
	peer := newTestNode(t, 8, "cam", nil).peerOf(time.Time{})
	if err := e.Apply(wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{peer}}); err != nil {
		t.Fatal(err)
	}
	if len(opened) != 1 || opened[0].IPv4 != self.IPv4 || e.ListenPort() == 0 {
		t.Fatalf("tun opened for %v, listen port %d", opened, e.ListenPort())
	}
	if ps := e.ActivePeers(time.Now()); len(ps) != 1 || ps[0].Name != "cam" {
		t.Fatalf("active peers %v", ps)
	}
	if st := e.Status(); len(st.Peers) != 1 || !st.Peers[0].Active {
		t.Fatalf("status %+v", st)
	}
	e.Close()
	select {
	case <-devs[0].done:
	default:
		t.Fatal("Close left the tun open")
	}
}

func TestEngineRejectsExposeWithTUN(t *testing.T) {
	priv, _ := wire.NewWGPrivate()
	_, err := NewEngine(EngineConfig{PrivateKey: priv, Expose: []uint16{22},
		TUN: func(wire.Node) (tun.Device, error) { return newFakeTUN(), nil }})
	if err == nil {
		t.Fatal("a TUN engine accepted exposed ports")
	}
}

// TestEngineRejectsExposeWithKernel: the kernel engine serves no exposed
// ports (the OS serves its own) and takes no TUN.
func TestEngineRejectsExposeWithKernel(t *testing.T) {
	priv, _ := wire.NewWGPrivate()
	kernel := func(wire.Node) (KernelLink, error) { return nil, errors.New("not opened in this test") }
	tests := []EngineConfig{
		{PrivateKey: priv, Expose: []uint16{22}, Kernel: kernel},
		{PrivateKey: priv, Kernel: kernel, TUN: func(wire.Node) (tun.Device, error) { return newFakeTUN(), nil }},
	}
	for _, cfg := range tests {
		if _, err := NewEngine(cfg); err == nil {
			t.Errorf("a kernel engine accepted expose %v / a TUN", cfg.Expose)
		}
	}
}
