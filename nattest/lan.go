//go:build linux

package nattest

import (
	"net/netip"
	"strconv"
)

// AddLAN adds a LAN namespace behind the site's host, as behind a subnet
// router: one link, the host's end holding gw (with prefix's length), the
// LAN's end every address of devices. The LAN routes nothing further, and
// the host does not forward, so only software on the host (a router
// dialling from its own address) reaches the LAN: nothing else in the net
// has a route to prefix.
func (s *Site) AddLAN(prefix netip.Prefix, gw netip.Addr, devices ...netip.Addr) *NS {
	n := s.n
	n.t.Helper()
	lan, err := n.namespace("lan" + s.k)
	n.must(err)
	bits := "/" + strconv.Itoa(prefix.Bits())
	// An IPv6 address is usable at once (no duplicate address detection:
	// the LAN is the test's own), not after a second of being tentative.
	var nodad []string
	if prefix.Addr().Is6() {
		nodad = []string{"nodad"}
	}
	n.must(
		s.Host.ip("link", "add", "lan"+s.k, "type", "veth", "peer", "name", "eth0", "netns", lan.Name),
		s.Host.ip(append([]string{"addr", "add", gw.String() + bits, "dev", "lan" + s.k}, nodad...)...),
		s.Host.ip("link", "set", "lan"+s.k, "up"),
		s.Host.run("sysctl", "-qw", "net.ipv4.ip_forward=0"),
		lan.ip("link", "set", "eth0", "up"),
	)
	for _, d := range devices {
		n.must(lan.ip(append([]string{"addr", "add", d.String() + bits, "dev", "eth0"}, nodad...)...))
	}
	return lan
}
