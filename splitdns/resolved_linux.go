package splitdns

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/godbus/dbus/v5"
)

// resolve1 names systemd-resolved's D-Bus service and manager.
const (
	resolve1     = "org.freedesktop.resolve1"
	resolve1Path = "/org/freedesktop/resolve1"
	resolve1Mgr  = "org.freedesktop.resolve1.Manager"
)

// resolvedAvailable reports whether systemd-resolved answers on the
// system bus.
func resolvedAvailable() bool {
	conn, err := dbus.SystemBus()
	if err != nil {
		return false
	}
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, resolve1).Store(&has)
	return err == nil && has
}

// linkDNS is one (family, address) of SetLinkDNS, a(iay).
type linkDNS struct {
	Family  int32
	Address []byte
}

// linkDomain is one (domain, routing only) of SetLinkDomains, a(sb). The
// fleet domain is a search domain too (not routing only), so a short
// name ("camera-3") resolves as in resolv.conf mode.
type linkDomain struct {
	Domain      string
	RoutingOnly bool
}

// resolvedInstall gives the TUN link ifname the resolver server and the
// fleet domain (searched and routed there), and takes the link off the
// default route, so systemd-resolved sends the fleet's questions there
// and no other; undo reverts the link.
func resolvedInstall(ifname string, server netip.Addr, domain string) (func() error, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", ifname, err)
	}
	conn, err := dbus.SystemBus()
	if err != nil {
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	obj := conn.Object(resolve1, resolve1Path)
	idx := int32(ifi.Index)
	family := int32(syscall.AF_INET)
	if server.Is6() {
		family = syscall.AF_INET6
	}
	calls := []struct {
		method string
		arg    any
		// optional: a resolved before v240 lacks the method.
		optional bool
	}{
		{"SetLinkDNS", []linkDNS{{Family: family, Address: server.AsSlice()}}, false},
		{"SetLinkDomains", []linkDomain{{Domain: domain, RoutingOnly: false}}, false},
		{"SetLinkDefaultRoute", false, true},
	}
	undo := func() error {
		if err := obj.Call(resolve1Mgr+".RevertLink", 0, idx).Err; err != nil {
			return fmt.Errorf("revert link %s in systemd-resolved: %w", ifname, err)
		}
		return nil
	}
	for _, c := range calls {
		if err := obj.Call(resolve1Mgr+"."+c.method, 0, idx, c.arg).Err; err != nil && !c.optional {
			undo()
			return nil, fmt.Errorf("systemd-resolved %s on %s: %w", c.method, ifname, err)
		}
	}
	return undo, nil
}
