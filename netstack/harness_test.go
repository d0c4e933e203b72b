package netstack

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// Overlay addresses of the two test nodes.
var (
	addrA4 = netip.MustParseAddr("100.64.0.1")
	addrA6 = netip.MustParseAddr("fd7a:115c:a1e0::1")
	addrB4 = netip.MustParseAddr("100.64.0.2")
	addrB6 = netip.MustParseAddr("fd7a:115c:a1e0::2")
)

// wgNode is a wireguard-go device over some tun.Device.
type wgNode struct {
	dev  *device.Device
	key  *ecdh.PrivateKey
	port uint16
}

// newWGNode starts a wireguard-go device over tdev, listening on a random
// UDP port. The device (and so tdev) is closed when the test ends.
func newWGNode(tb testing.TB, tdev tun.Device) *wgNode {
	tb.Helper()
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	tb.Cleanup(dev.Close)
	if err := dev.IpcSet("private_key=" + hex.EncodeToString(key.Bytes()) + "\nlisten_port=0\n"); err != nil {
		tb.Fatalf("configure device: %v", err)
	}
	if err := dev.Up(); err != nil {
		tb.Fatalf("bring device up: %v", err)
	}
	return &wgNode{dev: dev, key: key, port: listenPort(tb, dev)}
}

// listenPort reads the device's UDP port from its UAPI state.
func listenPort(tb testing.TB, dev *device.Device) uint16 {
	tb.Helper()
	state, err := dev.IpcGet()
	if err != nil {
		tb.Fatalf("read device state: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(state))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "listen_port="); ok {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				tb.Fatalf("parse listen port %q: %v", v, err)
			}
			return uint16(p)
		}
	}
	tb.Fatal("device state has no listen_port")
	return 0
}

// addPeer makes peer reachable from n at 127.0.0.1, owning allowed.
func (n *wgNode) addPeer(tb testing.TB, peer *wgNode, allowed ...netip.Addr) {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\nendpoint=127.0.0.1:%d\n", hex.EncodeToString(peer.key.PublicKey().Bytes()), peer.port)
	for _, a := range allowed {
		fmt.Fprintf(&b, "allowed_ip=%s\n", netip.PrefixFrom(a, a.BitLen()))
	}
	if err := n.dev.IpcSet(b.String()); err != nil {
		tb.Fatalf("add peer: %v", err)
	}
}

// linkWG connects two tun.Devices with wireguard-go over loopback UDP.
// addrsA are the overlay addresses behind a, addrsB those behind b.
func linkWG(tb testing.TB, a, b tun.Device, addrsA, addrsB []netip.Addr) (*wgNode, *wgNode) {
	tb.Helper()
	na, nb := newWGNode(tb, a), newWGNode(tb, b)
	na.addPeer(tb, nb, addrsB...)
	nb.addPeer(tb, na, addrsA...)
	return na, nb
}

// wardPair is two Stacks joined by wireguard-go.
type wardPair struct {
	a, b   *Stack
	wa, wb *wgNode
}

// newWardPair builds node A (addrA4, addrA6) and node B (addrB4, addrB6),
// each a Stack configured by cfgA/cfgB (which may be nil), joined over
// loopback UDP.
func newWardPair(tb testing.TB, cfgA, cfgB *Config) *wardPair {
	tb.Helper()
	a := newTestStack(tb, cfgA, addrA4, addrA6)
	b := newTestStack(tb, cfgB, addrB4, addrB6)
	wa, wb := linkWG(tb, a, b, []netip.Addr{addrA4, addrA6}, []netip.Addr{addrB4, addrB6})
	return &wardPair{a: a, b: b, wa: wa, wb: wb}
}

func newTestStack(tb testing.TB, cfg *Config, v4, v6 netip.Addr) *Stack {
	tb.Helper()
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.IPv4, c.IPv6 = v4, v6
	s, err := New(c)
	if err != nil {
		tb.Fatalf("new stack: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// allowAll is a Filter that allows every flow.
var allowAll = FilterFunc(func(netip.Addr, netip.Addr, uint8, uint16) bool { return true })

// denyAll is a non-nil Filter that denies every flow.
var denyAll = FilterFunc(func(netip.Addr, netip.Addr, uint8, uint16) bool { return false })
