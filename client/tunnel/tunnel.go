// Package tunnel makes the desktop client's TUN device: a real interface of
// the operating system with the node's overlay addresses and routes for the
// overlay ranges (100.64.0.0/10 and the coordinator's ULA /48), so that any
// program reaches the overlay by address. node.Engine runs wireguard-go
// over it (Link.Open is its EngineConfig.TUN) behind netstack's inbound
// guard. Creating and configuring a TUN needs root or CAP_NET_ADMIN on
// Linux (netlink, link_linux.go), root on macOS (a utun, configured with
// ifconfig and route: link_darwin.go, ifconfig.go) and an administrator
// on Windows (a Wintun adapter, wintun.dll beside ward.exe, configured with
// netsh: link_windows.go, netsh.go).
package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/wire"
)

// DefaultMTU is the TUN's MTU when New is given none. DefaultName, the
// name, depends on the OS (link_*.go): macOS names a utun itself.
const DefaultMTU = 1280

// Link makes TUN devices of one name and MTU. It is safe for concurrent
// use.
type Link struct {
	name string
	mtu  int
	log  *slog.Logger
	// cur is the name of the interface last opened; "" before.
	cur atomic.Pointer[string]

	// mu guards the following.
	mu sync.Mutex
	// self is the node the interface last opened was made for; routes
	// are the subnet routes SetRoutes put into it.
	self   wire.Node
	routes []netip.Prefix
}

var _ node.TUNFunc = (*Link)(nil).Open

// New returns a Link for interface name ("" means DefaultName) with MTU
// mtu (0 means DefaultMTU; at least 1280). log may be nil.
func New(name string, mtu int, log *slog.Logger) (*Link, error) {
	if name == "" {
		name = DefaultName
	}
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < 1280 || mtu > 65535 {
		return nil, fmt.Errorf("tun mtu %d not in [1280, 65535]", mtu)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Link{name: name, mtu: mtu, log: log}, nil
}

// Open creates the TUN, brings it up and gives it self's overlay addresses
// and the routes into it. Closing the device removes the interface, and
// with it its addresses and routes.
func (l *Link) Open(self wire.Node) (tun.Device, error) {
	t, err := tun.CreateTUN(l.name, l.mtu)
	if err != nil {
		return nil, fmt.Errorf("create tun %s (%s): %w", l.name, privilege, err)
	}
	name, err := t.Name()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tun name: %w", err)
	}
	if err := l.Configure(name, self); err != nil {
		t.Close()
		return nil, err
	}
	l.log.Info("tun up", "name", name, "ipv4", self.IPv4, "ipv6", self.IPv6)
	return t, nil
}

// Configure gives the interface name, made elsewhere (a TUN by Open, a
// kernel WireGuard link by package kernelwg), what Open gives a TUN: it
// brings it up with self's overlay addresses and the overlay's routes,
// and makes it the interface SetRoutes routes into.
func (l *Link) Configure(name string, self wire.Node) error {
	if err := configureInterface(name, l.mtu, self.IPv4, self.IPv6, l.log); err != nil {
		return err
	}
	l.cur.Store(&name)
	l.mu.Lock()
	l.self, l.routes = self, nil // a new interface holds none
	l.mu.Unlock()
	return nil
}

// SetRoutes routes prefixes (subnet routes the map gives the node) into
// the interface last opened, with its overlay address as the source, and
// removes the subnet routes it put there before that prefixes leave out.
// The overlay's own routes stay.
func (l *Link) SetRoutes(prefixes []netip.Prefix) error {
	name := l.InterfaceName()
	if name == "" {
		return fmt.Errorf("route %v: no tun yet", prefixes)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, p := range l.routes {
		if !slices.Contains(prefixes, p) {
			errs = append(errs, delRoute(name, p))
		}
	}
	var kept []netip.Prefix
	for _, p := range prefixes {
		src := l.self.IPv4
		if p.Addr().Is6() {
			src = l.self.IPv6
		}
		if err := addRoute(name, p, src); err != nil {
			errs = append(errs, err)
			continue
		}
		kept = append(kept, p)
	}
	l.routes = kept
	return errors.Join(errs...)
}

// InterfaceName returns the name of the TUN last opened, "" before.
func (l *Link) InterfaceName() string {
	if n := l.cur.Load(); n != nil {
		return *n
	}
	return ""
}
