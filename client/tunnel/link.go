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

// assignment is one overlay address the TUN gets and the overlay range
// routed into the TUN with that address as source.
type assignment struct {
	addr  netip.Addr
	route netip.Prefix
	// optional failures are logged and leave the others working (IPv6
	// disabled on the host).
	optional bool
}

// assignments returns what the TUN gets for the node's overlay addresses
// v4 and v6 (each may be invalid: none): v4 and the route for
// OverlayIPv4(), v6 and the route for its /48 (the coordinator's ULA
// prefix). An address of the wrong family is refused.
func assignments(v4, v6 netip.Addr) ([]assignment, error) {
	var as []assignment
	if v4.IsValid() {
		if !v4.Is4() {
			return nil, fmt.Errorf("overlay ipv4 address %v is not IPv4", v4)
		}
		as = append(as, assignment{addr: v4, route: OverlayIPv4()})
	}
	if v6.IsValid() {
		if !v6.Is6() || v6.Is4In6() || v6.Zone() != "" {
			return nil, fmt.Errorf("overlay ipv6 address %v is not a plain IPv6 address", v6)
		}
		pfx, _ := v6.Prefix(48) // cannot fail for an IPv6 address
		as = append(as, assignment{addr: v6, route: pfx, optional: true})
	}
	return as, nil
}

// configureInterface gives the TUN its addresses, brings it up and routes
// the overlay ranges into it (see assignments). IPv6 failures are logged
// and leave IPv4 working.
func configureInterface(name string, v4, v6 netip.Addr, log *slog.Logger) error {
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
