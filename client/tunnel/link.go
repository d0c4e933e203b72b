package tunnel

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// OverlayIPv4 returns the overlay's IPv4 range, routed into the TUN.
func OverlayIPv4() netip.Prefix { return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, 0, 0}), 10) }

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
		if err := addAddrRoute(l, v4, OverlayIPv4()); err != nil {
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
