package tunnel

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultName is the TUN's name when New is given none.
const DefaultName = "ward0"

// privilege is what creating a TUN needs here.
const privilege = "needs root or CAP_NET_ADMIN"

// configureInterface gives the TUN its addresses, brings it up and routes
// the overlay ranges into it (see assignments), through netlink. IPv6
// failures are logged and leave IPv4 working. The MTU was set by
// tun.CreateTUN.
func configureInterface(name string, _ int, v4, v6 netip.Addr, log *slog.Logger) error {
	as, err := assignments(v4, v6)
	if err != nil {
		return fmt.Errorf("configure %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	for _, a := range as {
		err := addAddrRoute(l, a.addr, a.route)
		switch {
		case err != nil && a.optional:
			log.Warn("tun address not configured", "interface", name, "addr", a.addr, "err", err)
		case err != nil:
			return err
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

// addRoute routes dst into the interface name with src as the source.
func addRoute(name string, dst netip.Prefix, src netip.Addr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", name, err)
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(dst), Scope: netlink.SCOPE_LINK}
	if src.IsValid() {
		r.Src = net.IP(src.AsSlice())
	}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("route %v into %s: %w", dst, name, err)
	}
	return nil
}

// delRoute removes the route of dst into the interface name.
func delRoute(name string, dst netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", name, err)
	}
	if err := netlink.RouteDel(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(dst), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("remove route %v from %s: %w", dst, name, err)
	}
	return nil
}
