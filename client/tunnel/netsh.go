package tunnel

import (
	"net/netip"
	"strconv"
)

// netshCommands returns the netsh commands that configure the Windows
// Wintun adapter name (made by tun.CreateTUN): its MTU per family, each
// assignment's address (a host address) and the route of its range into
// the adapter. Nothing is stored: the settings go with the adapter.
// IPv6 ones are optional, as on Linux.
//
// netsh rather than golang.zx2c4.com/wireguard/windows/tunnel/winipcfg:
// that module cannot be added from the module proxy (it needs
// github.com/lxn/walk, whose gopkg.in/Knetic/govaluate.v3 the proxy
// refuses; its own replace directives do not apply to us).
func netshCommands(name string, mtu int, as []assignment) []command {
	cmds := []command{{args: []string{"netsh", "interface", "ipv4", "set", "subinterface", name, "mtu=" + strconv.Itoa(mtu), "store=active"}}}
	if hasIPv6(as) {
		cmds = append(cmds, command{args: []string{"netsh", "interface", "ipv6", "set", "subinterface", name, "mtu=" + strconv.Itoa(mtu), "store=active"}, optional: true})
	}
	for _, a := range as {
		// netsh names the interface name= in ipv4's add address,
		// interface= everywhere else.
		family, addrIface := "ipv4", "name="+name
		if a.addr.Is6() {
			family, addrIface = "ipv6", "interface="+name
		}
		host := netip.PrefixFrom(a.addr, a.addr.BitLen()).String()
		cmds = append(cmds,
			command{args: []string{"netsh", "interface", family, "add", "address", addrIface, "address=" + host, "store=active"}, optional: a.optional},
			command{args: []string{"netsh", "interface", family, "add", "route", "prefix=" + a.route.String(), "interface=" + name, "store=active"}, optional: a.optional})
	}
	return cmds
}

// hasIPv6 reports whether as holds an IPv6 assignment.
func hasIPv6(as []assignment) bool {
	for _, a := range as {
		if a.addr.Is6() {
			return true
		}
	}
	return false
}
