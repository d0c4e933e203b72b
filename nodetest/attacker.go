package nodetest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/wire"
)

// Attacker is a bare WireGuard peer holding a stolen node key: the packets
// it sends through the tunnel are made by hand, so nothing of Ward's node
// code (grants, netstack) stands between it and its target, whose filter
// alone decides. It collects the TCP segments the target sends back.
type Attacker struct {
	self   netip.Addr // the stolen node's overlay IPv4
	target wire.Node
	tun    *chanTUN
}

// NewAttacker brings up a WireGuard device with key, as the node whose
// overlay IPv4 is self, toward target (its key, IPv4 and endpoints, as the
// admin API shows them) at its loopback endpoint, until the test ends.
// Stop the real node first: the target follows the key to whichever
// endpoint spoke last.
func NewAttacker(t testing.TB, key wire.WGPrivate, self netip.Addr, target wire.Node, endpoints []netip.AddrPort) *Attacker {
	t.Helper()
	i := slices.IndexFunc(endpoints, isLoopback)
	if i < 0 {
		t.Fatalf("%s announces no loopback endpoint: %v", target.Name, endpoints)
	}
	ep := endpoints[i]
	ct := &chanTUN{in: make(chan []byte, 16), out: make(chan []byte, 64), closed: make(chan struct{})}
	dev := device.NewDevice(ct, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(dev.Close)
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nendpoint=%s\nallowed_ip=%s/32\n",
		key.Hex(), target.WGKey.Hex(), ep, target.IPv4)
	if err := dev.IpcSet(cfg); err != nil {
		t.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		t.Fatal(err)
	}
	return &Attacker{self: self, target: target, tun: ct}
}

// HasLoopback reports whether endpoints has a loopback one, as
// NewAttacker needs.
func HasLoopback(endpoints []netip.AddrPort) bool { return slices.ContainsFunc(endpoints, isLoopback) }

func isLoopback(ep netip.AddrPort) bool { return ep.Addr().IsLoopback() }

// SYN sends a hand-made TCP SYN from the stolen node's address to port on
// the target.
func (a *Attacker) SYN(port uint16) {
	a.tun.in <- tcpSYN(a.self, a.target.IPv4, 40000+port%20000, port)
}

// Answer waits up to d for a TCP segment from port on the target and
// returns its flags; ok is false when none came.
func (a *Attacker) Answer(port uint16, d time.Duration) (flags byte, ok bool) {
	deadline := time.After(d)
	for {
		select {
		case b := <-a.tun.out:
			if len(b) >= 40 && b[0]>>4 == 4 && b[9] == 6 && binary.BigEndian.Uint16(b[20:22]) == port {
				return b[33], true
			}
		case <-deadline:
			return 0, false
		}
	}
}

// tcpSYN is an IPv4 TCP SYN from src:sport to dst:dport, checksums
// included.
func tcpSYN(src, dst netip.Addr, sport, dport uint16) []byte {
	b := make([]byte, 40)
	b[0], b[8], b[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(b[2:4], 40)
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], ^sum16(0, b[:20]))
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:2], sport)
	binary.BigEndian.PutUint16(tcp[2:4], dport)
	binary.BigEndian.PutUint32(tcp[4:8], 1000)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:16], 65535)
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 6, 0, 20)
	binary.BigEndian.PutUint16(tcp[16:18], ^sum16(sum16(0, pseudo), tcp))
	return b
}

// sum16 adds b to the ones'-complement sum acc.
func sum16(acc uint16, b []byte) uint16 {
	s := uint32(acc)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// TCPRST is the RST flag of a TCP header, as Answer returns flags.
const TCPRST = 0x04

// chanTUN is a tun.Device made of channels: in holds packets to send into
// the tunnel, out receives what comes out of it.
type chanTUN struct {
	in, out chan []byte
	once    sync.Once
	closed  chan struct{}
}

// File implements tun.Device; there is none.
func (c *chanTUN) File() *os.File { return nil }

// MTU implements tun.Device.
func (c *chanTUN) MTU() (int, error) { return 1420, nil }

// Name implements tun.Device.
func (c *chanTUN) Name() (string, error) { return "attacker", nil }

// Events implements tun.Device; none come.
func (c *chanTUN) Events() <-chan tun.Event { return nil }

// BatchSize implements tun.Device.
func (c *chanTUN) BatchSize() int { return 1 }

// Read implements tun.Device: the next packet SYN queued.
func (c *chanTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case b := <-c.in:
		sizes[0] = copy(bufs[0][offset:], b)
		return 1, nil
	case <-c.closed:
		return 0, os.ErrClosed
	}
}

// Write implements tun.Device: what the target sent, for Answer.
func (c *chanTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		select {
		case c.out <- append([]byte(nil), b[offset:]...):
		default:
		}
	}
	return len(bufs), nil
}

// Close implements tun.Device.
func (c *chanTUN) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
