package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/client/guard"
)

// OverlayIPv4 is the overlay's IPv4 range, routed into the TUN.
var OverlayIPv4 = netip.MustParsePrefix("100.64.0.0/10")

// link is one running TUN with its wireguard-go device and guard.
type link struct {
	name   string
	v4, v6 netip.Addr
	port   uint16
	dev    *device.Device
	guard  *guard.Guard
}

// newLink creates the TUN, starts wireguard-go over it (guarded) and gives
// the interface its addresses and routes.
func newLink(cfg Config, v4, v6 netip.Addr, port uint16) (*link, error) {
	t, err := tun.CreateTUN(cfg.Name, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("create tun %s (needs root or CAP_NET_ADMIN): %w", cfg.Name, err)
	}
	name, err := t.Name()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tun name: %w", err)
	}
	g := guard.New(guard.Config{IPv4: v4, IPv6: v6, OnDenied: cfg.OnDenied})
	ln := &link{name: name, v4: v4, v6: v6, guard: g,
		dev: device.NewDevice(guard.Wrap(t, g), cfg.Bind(), wgLogger(cfg.Logger))}
	if err := ln.up(cfg, port); err != nil {
		ln.close()
		return nil, err
	}
	if err := configureInterface(name, v4, v6, cfg.Logger); err != nil {
		ln.close()
		return nil, err
	}
	return ln, nil
}

// up sets the key and port, brings the device up and reads the port.
func (ln *link) up(cfg Config, port uint16) error {
	if err := ln.dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.PrivateKey.Hex(), port)); err != nil {
		return fmt.Errorf("configure wireguard: %w", err)
	}
	if err := ln.dev.Up(); err != nil {
		return fmt.Errorf("bring wireguard up: %w", err)
	}
	st, err := ln.state()
	if err != nil {
		return err
	}
	ln.port = st.listenPort
	return nil
}

// configure applies UAPI set lines (never containing private keys).
func (ln *link) configure(set string) error {
	if set == "" {
		return nil
	}
	if err := ln.dev.IpcSet(set); err != nil {
		return fmt.Errorf("configure wireguard peers: %w", err)
	}
	return nil
}

// state reads the device's UAPI state.
func (ln *link) state() (deviceState, error) {
	s, err := ln.dev.IpcGet()
	if err != nil {
		return deviceState{}, fmt.Errorf("read wireguard state: %w", err)
	}
	return parseDeviceState(s)
}

// close stops the device, which closes the TUN; the kernel then removes
// the interface with its addresses and routes.
func (ln *link) close() { ln.dev.Close() }

// configureInterface gives the TUN its addresses, brings it up and routes
// the overlay ranges into it: 100.64.0.0/10 from v4, and the /48 of v6
// (the coordinator's ULA prefix) from v6. IPv6 failures (IPv6 disabled on
// the host) are logged and leave IPv4 working.
func configureInterface(name string, v4, v6 netip.Addr, log *slog.Logger) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	if v4.IsValid() {
		if err := addAddrRoute(l, v4, OverlayIPv4); err != nil {
			return err
		}
	}
	if v6.IsValid() {
		pfx, _ := v6.Prefix(48)
		if err := addAddrRoute(l, v6, pfx); err != nil {
			log.Warn("tun ipv6 not configured", "interface", name, "err", err)
		}
	}
	return nil
}

// addAddrRoute adds a (host prefix, no DAD) to l and routes dst into l
// with a as the source.
func addAddrRoute(l netlink.Link, a netip.Addr, dst netip.Prefix) error {
	host := netip.PrefixFrom(a, a.BitLen())
	addr := &netlink.Addr{IPNet: ipNet(host)}
	if a.Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("add address %v to %s: %w", host, l.Attrs().Name, err)
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(dst), Src: net.IP(a.AsSlice()), Scope: netlink.SCOPE_LINK}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %v into %s: %w", dst, l.Attrs().Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// wgLogger routes wireguard-go's logs to slog at debug level.
func wgLogger(log *slog.Logger) *device.Logger {
	l := log.With("component", "wireguard")
	logf := func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug(fmt.Sprintf(format, args...))
		}
	}
	return &device.Logger{Verbosef: logf, Errorf: logf}
}
