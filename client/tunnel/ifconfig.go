package tunnel

import (
	"net/netip"
	"strconv"
)

// ifconfigCommands returns the commands that configure the macOS utun
// name (made by tun.CreateTUN): its MTU, each assignment's address (a
// host address, the utun being point to point: the address is also its
// destination) and the route of its range into the utun, then up. IPv6
// ones are optional, as on Linux.
func ifconfigCommands(name string, mtu int, as []assignment) []command {
	cmds := []command{{args: []string{"ifconfig", name, "mtu", strconv.Itoa(mtu)}}}
	for _, a := range as {
		host := netip.PrefixFrom(a.addr, a.addr.BitLen()).String()
		family, inet := "-inet", "inet"
		addr := []string{"ifconfig", name, inet, host, a.addr.String(), "alias"}
		if a.addr.Is6() {
			family, inet = "-inet6", "inet6"
			addr = []string{"ifconfig", name, inet, host, "alias"}
		}
		cmds = append(cmds,
			command{args: addr, optional: a.optional},
			command{args: []string{"route", "-q", "-n", "add", family, a.route.String(), "-interface", name}, optional: a.optional})
	}
	return append(cmds, command{args: []string{"ifconfig", name, "up"}})
}
