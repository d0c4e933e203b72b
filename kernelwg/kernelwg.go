// Package kernelwg is Ward's kernel WireGuard engine (`ward node --engine
// kernel`): the data plane on a Linux "wireguard" link instead of
// wireguard-go over the userspace netstack. node.Engine drives it as it
// drives wireguard-go, with UAPI "set" deltas (peers added, removed,
// updated; key rotation), which Link translates to wgctrl configurations
// (uapi.go); it reads the link's state back as UAPI "get" text. The
// inbound filter, which the netstack enforces per packet in userspace,
// becomes an nftables table on the link (nft.go). Creating the link needs
// CAP_NET_ADMIN and a kernel with WireGuard (Linux 5.6 and later, or the
// wireguard module); New checks both, so a missing module fails at start
// with ErrNoModule.
package kernelwg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/wire"
)

// DefaultName is the link's name when Config gives none.
const DefaultName = "ward0"

// ErrNoModule means the kernel cannot make a WireGuard link.
var ErrNoModule = errors.New(`the kernel has no WireGuard ("wireguard" module missing: modprobe wireguard, or Linux 5.6 and later; else run --engine userspace)`)

// Client is what Link needs of wgctrl: *wgctrl.Client implements it;
// tests give a fake.
type Client interface {
	Device(name string) (*wgtypes.Device, error)
	ConfigureDevice(name string, cfg wgtypes.Config) error
	Close() error
}

// LinkOps makes, configures and removes the link; linkOps (netlink, and
// client/tunnel for addresses and routes) on Linux, a fake in tests.
type LinkOps interface {
	// Add creates a WireGuard link name with MTU mtu; an error wraps
	// ErrNoModule when the kernel has no WireGuard.
	Add(name string, mtu int) error
	// Configure brings the link up with self's overlay addresses and the
	// overlay's routes.
	Configure(name string, self wire.Node) error
	// SetRoutes routes prefixes into the link, replacing the subnet
	// routes it routed before.
	SetRoutes(name string, prefixes []netip.Prefix) error
	// Delete removes the link (and with it its addresses and routes).
	Delete(name string) error
}

// Config configures a Kernel.
type Config struct {
	// Name is the link's name; "" means DefaultName.
	Name string
	// MTU is the link's MTU; 0 means 1280, the overlay's.
	MTU int
	// Logger receives the logs; nil means slog.Default().
	Logger *slog.Logger
	// Client configures the link; nil means wgctrl.New().
	Client Client
	// Ops makes the link; nil means netlink (Linux only).
	Ops LinkOps
	// NFT applies an nftables script (nft -f -); nil means the nft
	// binary.
	NFT func(script string) error
}

// Kernel opens kernel WireGuard links for node.Engine (its Open is a
// node.KernelFunc).
type Kernel struct {
	cfg Config
}

var _ node.KernelFunc = (*Kernel)(nil).Open

// New checks that this host can run the kernel engine: it creates the
// link and removes it again, so a kernel without WireGuard (ErrNoModule)
// or a process without CAP_NET_ADMIN fails here, at start, not at the
// first map.
func New(cfg Config) (*Kernel, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1280
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Ops == nil {
		ops, err := newLinkOps(cfg.MTU, cfg.Logger)
		if err != nil {
			return nil, err
		}
		cfg.Ops = ops
	}
	if cfg.NFT == nil {
		cfg.NFT = runNFT
	}
	if err := cfg.Ops.Add(cfg.Name, cfg.MTU); err != nil {
		return nil, fmt.Errorf("kernel engine: %w", err)
	}
	if err := cfg.Ops.Delete(cfg.Name); err != nil {
		return nil, fmt.Errorf("kernel engine: %w", err)
	}
	if cfg.Client == nil {
		c, err := newClient()
		if err != nil {
			return nil, fmt.Errorf("kernel engine: %w", err)
		}
		cfg.Client = c
	}
	return &Kernel{cfg: cfg}, nil
}

// Close releases the wgctrl client.
func (k *Kernel) Close() error { return k.cfg.Client.Close() }

// Open creates the link for self: up, with self's overlay addresses and
// the overlay's routes, no peers and no filter rules yet (flows from the
// link are dropped until SetFilter).
func (k *Kernel) Open(self wire.Node) (node.KernelLink, error) {
	name := k.cfg.Name
	if err := k.cfg.Ops.Add(name, k.cfg.MTU); err != nil {
		return nil, err
	}
	l := &Link{name: name, wg: k.cfg.Client, ops: k.cfg.Ops, nft: k.cfg.NFT, log: k.cfg.Logger}
	if err := l.SetFilter(node.KernelFilter{}); err != nil {
		l.Close()
		return nil, err
	}
	if err := k.cfg.Ops.Configure(name, self); err != nil {
		l.Close()
		return nil, err
	}
	k.cfg.Logger.Info("kernel wireguard link up", "name", name, "ipv4", self.IPv4, "ipv6", self.IPv6)
	return l, nil
}

// Link is one kernel WireGuard link, a node.KernelLink.
type Link struct {
	name string
	wg   Client
	ops  LinkOps
	nft  func(string) error
	log  *slog.Logger

	// mu guards filtered.
	mu sync.Mutex
	// filtered is set once the link's nftables table exists.
	filtered bool
}

var _ node.KernelLink = (*Link)(nil)

// IpcSet implements node.KernelLink: the UAPI lines become one wgctrl
// configuration, applied at once.
func (l *Link) IpcSet(uapi string) error {
	cfg, err := configOf(uapi)
	if err != nil {
		return err
	}
	if err := l.wg.ConfigureDevice(l.name, cfg); err != nil {
		return fmt.Errorf("configure %s: %w", l.name, err)
	}
	return nil
}

// IpcGet implements node.KernelLink.
func (l *Link) IpcGet() (string, error) {
	d, err := l.wg.Device(l.name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", l.name, err)
	}
	return uapiOf(d), nil
}

// Up implements node.KernelLink: Open brought the link up.
func (l *Link) Up() error { return nil }

// SetFilter implements node.KernelLink: it replaces the link's nftables
// table in one transaction.
func (l *Link) SetFilter(f node.KernelFilter) error {
	if err := l.nft(ruleset(l.name, f)); err != nil {
		return fmt.Errorf("filter %s: %w", l.name, err)
	}
	l.mu.Lock()
	l.filtered = true
	l.mu.Unlock()
	return nil
}

// SetPeerRoutes implements node.KernelLink.
func (l *Link) SetPeerRoutes(prefixes []netip.Prefix) error {
	return l.ops.SetRoutes(l.name, slices.Clone(prefixes))
}

// Close implements node.KernelLink: it removes the link and its table.
func (l *Link) Close() {
	if err := l.ops.Delete(l.name); err != nil {
		l.log.Warn("remove kernel wireguard link", "name", l.name, "err", err)
	}
	l.mu.Lock()
	filtered := l.filtered
	l.mu.Unlock()
	if !filtered {
		return
	}
	if err := l.nft(deleteTable(l.name)); err != nil {
		l.log.Warn("remove the link's nftables table", "name", l.name, "err", err)
	}
}
