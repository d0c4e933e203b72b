package kernelwg

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/wire"
)

// quiet discards the logs of the parts under test.
var quiet = slog.New(slog.DiscardHandler)

// fleetNode returns node n of a test fleet: overlay addresses 100.64.0.n
// and fd7a:115c:a1e0::n, a fresh key, endpoints eps.
func fleetNode(t *testing.T, n byte, eps ...string) (wire.Node, wire.WGPrivate) {
	t.Helper()
	priv, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	nd := wire.Node{ID: wire.NodeID(n), Name: "n" + string('0'+n), WGKey: priv.Public(),
		IPv4: netip.AddrFrom4([4]byte{100, 64, 0, n}), IPv6: netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 15: n})}
	for _, ep := range eps {
		nd.Endpoints = append(nd.Endpoints, netip.MustParseAddrPort(ep))
	}
	return nd, priv
}

// allowedOf returns p's allowed IPs as prefixes.
func allowedOf(p wgtypes.Peer) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range p.AllowedIPs {
		a, _ := netip.AddrFromSlice(ip.IP)
		ones, _ := ip.Mask.Size()
		out = append(out, netip.PrefixFrom(a.Unmap(), ones))
	}
	return out
}

// TestKernelEngineAppliesMapDeltasThroughWgctrl: node.Engine with the
// kernel engine, over a fake wgctrl client, configures the link from the
// map as deltas: peers with their overlay addresses and subnet routes as
// allowed IPs and their first endpoint; an endpoint update in place (the
// peer is not removed, so its session stays); a revoked peer removed, its
// routes and ping grant gone; a key rotation; and the inbound filter as
// an nftables table on the link. Close removes the link and the table.
func TestKernelEngineAppliesMapDeltasThroughWgctrl(t *testing.T) {
	wg, nft := newFakeWG(), &fakeNFT{}
	ops := &fakeOps{wg: wg}
	k, err := New(Config{Name: "wardk0", Client: wg, Ops: ops, NFT: nft.apply, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	self, priv := fleetNode(t, 1)
	e, err := node.NewEngine(node.EngineConfig{PrivateKey: priv, Kernel: k.Open, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cam, _ := fleetNode(t, 2, "127.0.0.1:5002")
	gw, _ := fleetNode(t, 3, "127.0.0.1:5003", "127.0.0.2:5003")
	gw.Routes = []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")}
	rules := []filter.Rule{{Src: []netip.Prefix{netip.PrefixFrom(cam.IPv4, 32)},
		Dst: []filter.DstNet{{Net: netip.PrefixFrom(self.IPv4, 32), Ports: []filter.PortRange{{First: 22, Last: 22}}}}, Protos: []filter.Proto{filter.ProtoTCP}}}
	if err := e.Apply(wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{cam, gw}, Filter: rules, FilterChanged: true}); err != nil {
		t.Fatalf("apply full map: %v", err)
	}

	if e.ListenPort() == 0 {
		t.Fatal("the engine read no listen port from the link")
	}
	p, ok := wg.peer("wardk0", cam.WGKey)
	if !ok || p.Endpoint.String() != "127.0.0.1:5002" || !slices.Equal(allowedOf(p), []netip.Prefix{netip.PrefixFrom(cam.IPv4, 32), netip.PrefixFrom(cam.IPv6, 128)}) {
		t.Fatalf("camera on the link: %+v (present %v)", p, ok)
	}
	p, ok = wg.peer("wardk0", gw.WGKey)
	if !ok || p.Endpoint.String() != "127.0.0.1:5003" || !slices.Contains(allowedOf(p), gw.Routes[0]) {
		t.Fatalf("gateway on the link: %+v (present %v); want its first endpoint and its route", p, ok)
	}
	if got := ops.peerRoutes(); !slices.Equal(got, gw.Routes) {
		t.Fatalf("routes into the link %v; want %v", got, gw.Routes)
	}
	script := nft.last()
	for _, want := range []string{`iifname "wardk0" jump from_overlay`, "ip saddr 100.64.0.2/32 ip daddr 100.64.0.1/32 meta l4proto 6 th dport { 22 } accept",
		"ip saddr { 100.64.0.2, 100.64.0.3 } udp dport 41641 accept"} {
		if !strings.Contains(script, want) {
			t.Fatalf("nftables script lacks %q:\n%s", want, script)
		}
	}

	// The camera moves: its endpoint changes in place.
	cam.Endpoints = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.9:6002")}
	if err := e.Apply(wire.MapResponse{Version: 2, PeersChanged: []wire.Node{cam}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := wg.peer("wardk0", cam.WGKey); p.Endpoint.String() != "127.0.0.9:6002" || wg.removals(cam.WGKey) != 0 {
		t.Fatalf("camera after it moved: endpoint %v, removed %d times; want the new endpoint, in place", p.Endpoint, wg.removals(cam.WGKey))
	}

	// The gateway is revoked.
	if err := e.Apply(wire.MapResponse{Version: 3, PeersRemoved: []wire.NodeID{gw.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wg.peer("wardk0", gw.WGKey); ok {
		t.Fatal("the revoked gateway is still on the link")
	}
	if got := ops.peerRoutes(); len(got) != 0 {
		t.Fatalf("routes into the link after the revocation: %v", got)
	}
	if script := nft.last(); strings.Contains(script, "100.64.0.3") {
		t.Fatalf("the revoked gateway still may ping:\n%s", script)
	}

	// Key rotation.
	next, err := wire.NewWGPrivate()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPrivateKey(next); err != nil {
		t.Fatal(err)
	}
	if d, _ := wg.Device("wardk0"); d.PublicKey != wgtypes.Key(next.Public()) {
		t.Fatalf("link key %v after rotation; want %v", d.PublicKey, next.Public())
	}

	// What `ward status` and the UAPI socket read: the kernel's endpoint.
	var b strings.Builder
	if err := e.WriteUAPI(&b); err != nil || !strings.Contains(b.String(), "endpoint=127.0.0.9:6002\n") {
		t.Fatalf("uapi view: %v\n%s", err, b.String())
	}

	e.Close()
	if _, err := wg.Device("wardk0"); err == nil {
		t.Fatal("the link outlived the engine")
	}
	if script := nft.last(); script != "delete table inet ward_wardk0\n" {
		t.Fatalf("last nftables script %q; want the table removed", script)
	}
}

// TestKernelEngineNeedsWireGuardModule: on a kernel without WireGuard
// (this machine), New fails at once with ErrNoModule, saying what is
// missing, through real netlink.
func TestKernelEngineNeedsWireGuardModule(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("creating a link needs root")
	}
	k, err := New(Config{Name: "wardkt0", Logger: quiet})
	if err == nil {
		k.Close()
		t.Skip("this kernel has WireGuard: the missing-module path cannot run here")
	}
	if !errors.Is(err, ErrNoModule) || !strings.Contains(err.Error(), `"wireguard" module missing`) || !strings.Contains(err.Error(), "--engine userspace") {
		t.Fatalf("New: %v; want ErrNoModule naming the module and the way out", err)
	}
}

// TestKernelEngineFailsWhenLinkCannotBeMade: New refuses with the link's
// error (here: no module) and leaves nothing behind.
func TestKernelEngineFailsWhenLinkCannotBeMade(t *testing.T) {
	wg := newFakeWG()
	_, err := New(Config{Name: "wardk0", Client: wg, Ops: &fakeOps{wg: wg, fail: ErrNoModule}, NFT: (&fakeNFT{}).apply, Logger: quiet})
	if !errors.Is(err, ErrNoModule) {
		t.Fatalf("New: %v; want ErrNoModule", err)
	}
}
