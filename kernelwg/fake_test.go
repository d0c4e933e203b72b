package kernelwg

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wardnet/ward/wire"
)

// fakeWG is a wgctrl client over devices in memory, applying
// configurations as the kernel does (peers in order; listen port 0 picks
// one).
type fakeWG struct {
	mu      sync.Mutex // guards devs, removed
	devs    map[string]*wgtypes.Device
	removed []wgtypes.Key // every peer removal, in order
}

func newFakeWG() *fakeWG { return &fakeWG{devs: map[string]*wgtypes.Device{}} }

func (f *fakeWG) Close() error { return nil }

func (f *fakeWG) Device(name string) (*wgtypes.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[name]
	if !ok {
		return nil, fmt.Errorf("no device %s", name)
	}
	c := *d
	c.Peers = slices.Clone(d.Peers)
	return &c, nil
}

func (f *fakeWG) ConfigureDevice(name string, cfg wgtypes.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[name]
	if !ok {
		return fmt.Errorf("no device %s", name)
	}
	if cfg.PrivateKey != nil {
		d.PrivateKey, d.PublicKey = *cfg.PrivateKey, cfg.PrivateKey.PublicKey()
	}
	if cfg.ListenPort != nil {
		d.ListenPort = *cfg.ListenPort
		if d.ListenPort == 0 {
			d.ListenPort = 51820
		}
	}
	if cfg.ReplacePeers {
		d.Peers = nil
	}
	for _, pc := range cfg.Peers {
		i := slices.IndexFunc(d.Peers, func(p wgtypes.Peer) bool { return p.PublicKey == pc.PublicKey })
		switch {
		case pc.Remove:
			if i >= 0 {
				d.Peers = slices.Delete(d.Peers, i, i+1)
				f.removed = append(f.removed, pc.PublicKey)
			}
			continue
		case i < 0 && pc.UpdateOnly:
			continue
		case i < 0:
			// Every peer handshakes at once: its session is live, so the
			// Engine has no reason to re-create it (a handshake kick).
			d.Peers = append(d.Peers, wgtypes.Peer{PublicKey: pc.PublicKey, ProtocolVersion: 1, LastHandshakeTime: time.Now()})
			i = len(d.Peers) - 1
		}
		p := &d.Peers[i]
		if pc.Endpoint != nil {
			p.Endpoint = pc.Endpoint
		}
		if pc.PersistentKeepaliveInterval != nil {
			p.PersistentKeepaliveInterval = *pc.PersistentKeepaliveInterval
		}
		if pc.ReplaceAllowedIPs {
			p.AllowedIPs = nil
		}
		p.AllowedIPs = append(p.AllowedIPs, pc.AllowedIPs...)
	}
	return nil
}

// peer returns the device's peer with key k.
func (f *fakeWG) peer(name string, k wire.WGPublic) (wgtypes.Peer, bool) {
	d, err := f.Device(name)
	if err != nil {
		return wgtypes.Peer{}, false
	}
	for _, p := range d.Peers {
		if p.PublicKey == wgtypes.Key(k) {
			return p, true
		}
	}
	return wgtypes.Peer{}, false
}

// removals counts the removals of peer k.
func (f *fakeWG) removals(k wire.WGPublic) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.removed {
		if r == wgtypes.Key(k) {
			n++
		}
	}
	return n
}

// fakeOps are LinkOps that make the fake client's devices.
type fakeOps struct {
	wg *fakeWG
	// fail, if set, is Add's error.
	fail error

	mu      sync.Mutex // guards the following
	self    wire.Node
	routes  []netip.Prefix
	deleted int
}

func (o *fakeOps) Add(name string, mtu int) error {
	if o.fail != nil {
		return o.fail
	}
	o.wg.mu.Lock()
	defer o.wg.mu.Unlock()
	if _, ok := o.wg.devs[name]; ok {
		return fmt.Errorf("link %s exists", name)
	}
	o.wg.devs[name] = &wgtypes.Device{Name: name, Type: wgtypes.LinuxKernel}
	return nil
}

func (o *fakeOps) Configure(name string, self wire.Node) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.self, o.routes = self, nil
	return nil
}

func (o *fakeOps) SetRoutes(name string, prefixes []netip.Prefix) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes = prefixes
	return nil
}

func (o *fakeOps) Delete(name string) error {
	o.wg.mu.Lock()
	delete(o.wg.devs, name)
	o.wg.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deleted++
	return nil
}

func (o *fakeOps) peerRoutes() []netip.Prefix {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.routes)
}

// fakeNFT records the nftables scripts applied.
type fakeNFT struct {
	mu      sync.Mutex // guards scripts
	scripts []string
}

func (n *fakeNFT) apply(script string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.scripts = append(n.scripts, script)
	return nil
}

func (n *fakeNFT) last() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.scripts) == 0 {
		return ""
	}
	return n.scripts[len(n.scripts)-1]
}

// udp returns ap as a *net.UDPAddr.
func udp(ap string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ap)) }
