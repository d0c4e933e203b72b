package netstack

import (
	"errors"
	"os"
	"testing"

	"golang.zx2c4.com/wireguard/tun"
)

// fakeTUN is a tun.Device that records written packets and returns queued
// ones from Read.
type fakeTUN struct {
	written [][]byte
	toRead  [][]byte
	closed  int
}

var _ tun.Device = (*fakeTUN)(nil)

func (*fakeTUN) File() *os.File           { return nil }
func (*fakeTUN) MTU() (int, error)        { return DefaultMTU, nil }
func (*fakeTUN) Name() (string, error)    { return "fake0", nil }
func (*fakeTUN) Events() <-chan tun.Event { return nil }
func (*fakeTUN) BatchSize() int           { return 1 }
func (f *fakeTUN) Close() error           { f.closed++; return nil }

func (f *fakeTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		f.written = append(f.written, append([]byte(nil), b[offset:]...))
	}
	return len(bufs), nil
}

func (f *fakeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(f.toRead) == 0 {
		return 0, os.ErrClosed
	}
	n := 0
	for n < len(bufs) && len(f.toRead) > 0 {
		sizes[n] = copy(bufs[n][offset:], f.toRead[0])
		f.toRead = f.toRead[1:]
		n++
	}
	return n, nil
}

// withOffset returns b behind offset spare bytes, as wireguard-go passes
// packets.
func withOffset(b []byte, offset int) []byte {
	return append(make([]byte, offset), b...)
}

func newTestGuard(t *testing.T) (*Guard, *fakeTUN) {
	t.Helper()
	ft := &fakeTUN{}
	g, err := NewGuard(ft, GuardConfig{IPv4: addrB4, IPv6: addrB6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, ft
}

func TestGuardDeviceFiltersInbound(t *testing.T) {
	g, ft := newTestGuard(t)
	const off = 16
	syn := withOffset(tcpPacket(addrA4, addrB4, 1000, 22, tcpSYN), off)
	if n, err := g.Write([][]byte{syn}, off); n != 1 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if len(ft.written) != 0 || g.Stats().Denied != 1 {
		t.Fatalf("nil filter let a SYN through: written %d, stats %+v", len(ft.written), g.Stats())
	}
	g.SetFilter(allowAll)
	stray := withOffset(tcpPacket(addrA4, addrB4, 1001, 22, tcpACK), off)
	other := withOffset(tcpPacket(addrA4, addrA4, 1000, 22, tcpSYN), off)
	syn = withOffset(tcpPacket(addrA4, addrB4, 1000, 22, tcpSYN), off)
	bufs := [][]byte{stray, other, syn}
	if n, err := g.Write(bufs, off); n != 3 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if len(ft.written) != 1 || string(ft.written[0]) != string(syn[off:]) {
		t.Fatalf("wrote %d packets, want the SYN only", len(ft.written))
	}
	if len(bufs) != 3 || bufs[0] == nil || bufs[1] == nil || bufs[2] == nil {
		t.Fatal("Write lost a buffer")
	}
	if st := g.Stats(); st.Allowed != 1 || st.Unsolicited != 2 || st.Unserved != 0 || st.Flows != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGuardDeviceTracksOutbound(t *testing.T) {
	g, ft := newTestGuard(t)
	const off = 16
	ft.toRead = [][]byte{tcpPacket(addrB4, addrA4, 2000, 80, tcpSYN)}
	bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	if n, err := g.Read(bufs, sizes, off); n != 1 || err != nil || sizes[0] == 0 {
		t.Fatalf("read = %d, %v, size %d", n, err, sizes[0])
	}
	synAck := withOffset(tcpPacket(addrA4, addrB4, 80, 2000, tcpSYN|tcpACK), off)
	g.Write([][]byte{synAck}, off)
	if len(ft.written) != 1 {
		t.Fatal("the reply to an outbound flow was dropped")
	}
}

func TestGuardDeviceRevokes(t *testing.T) {
	g, ft := newTestGuard(t)
	const off = 16
	g.SetFilter(allowAll)
	g.Write([][]byte{withOffset(tcpPacket(addrA4, addrB4, 1000, 22, tcpSYN), off)}, off)
	g.SetFilter(denyAll)
	ft.toRead = [][]byte{tcpPacket(addrB4, addrA4, 22, 1000, tcpSYN|tcpACK)}
	bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	if n, _ := g.Read(bufs, sizes, off); n != 1 || sizes[0] != 0 {
		t.Fatalf("a revoked flow's packet left: n %d, size %d", n, sizes[0])
	}
	if st := g.Stats(); st.Revoked != 1 || st.OutboundDropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGuardDeviceClose(t *testing.T) {
	ft := &fakeTUN{}
	g, err := NewGuard(ft, GuardConfig{IPv4: addrB4})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	g.Close()
	if ft.closed != 1 {
		t.Fatalf("device closed %d times", ft.closed)
	}
	if _, err := NewGuard(ft, GuardConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no addresses: %v", err)
	}
}

func TestGuardDeviceDoesNotAllocate(t *testing.T) {
	g, ft := newTestGuard(t)
	g.SetFilter(allowAll)
	ft.written = make([][]byte, 0, 1024)
	const off = 16
	pkt := withOffset(udp4Packet(addrA4, addrB4, 1, 53, []byte("q")), off)
	bufs := [][]byte{pkt}
	g.Write(bufs, off)
	sink := &fakeTUN{}
	g.Device = nullTUN{sink}
	if n := testing.AllocsPerRun(100, func() { g.Write(bufs, off) }); n != 0 {
		t.Fatalf("Write allocates %v times per call", n)
	}
}

// nullTUN discards writes.
type nullTUN struct{ *fakeTUN }

func (nullTUN) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
