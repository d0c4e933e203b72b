package web

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/wardnet/ward/acl"
)

// accessRow is one source's access to a device, as the device page lists
// it: every protocol and port the policy grants that source, on one line.
type accessRow struct {
	// Src is the source: a user email, tags or a prefix (acl.Access.Src).
	Src string
	// Dst is the destination when it is not the device itself but a route
	// it serves ("cam-1 (10.0.0.0/24)"); empty otherwise.
	Dst string
	// Ports lists protocols and ports: "tcp 80, 443, 554; udp 5353; icmp".
	Ports string
}

// accessRows groups a device's grants (acl.AccessTo) by source and
// destination, in the grants' order, compressing each group's protocols
// and ports into one line.
func accessRows(gs []acl.Access, device string) []accessRow {
	type key struct{ src, dst string }
	var order []key
	ports := map[key]map[string][]string{}
	for _, g := range gs {
		k := key{g.Src, g.Dst}
		if ports[k] == nil {
			order = append(order, k)
			ports[k] = map[string][]string{}
		}
		ports[k][g.Proto] = append(ports[k][g.Proto], g.Ports)
	}
	out := make([]accessRow, 0, len(order))
	for _, k := range order {
		r := accessRow{Src: k.src, Ports: portsLine(ports[k])}
		if k.dst != device {
			r.Dst = k.dst
		}
		out = append(out, r)
	}
	return out
}

// portsLine writes protocols (tcp, udp, icmp, then by number) with their
// ports in numeric order: "tcp 22, 80-90; udp all ports; icmp".
func portsLine(byProto map[string][]string) string {
	var parts []string
	for _, p := range slices.SortedFunc(maps.Keys(byProto), compareProtos) {
		parts = append(parts, protoPorts(p, byProto[p]))
	}
	return strings.Join(parts, "; ")
}

// protoPorts is one protocol with its ports; "*" (any port, or a protocol
// without ports) covers the rest.
func protoPorts(proto string, ports []string) string {
	name := proto
	if _, err := strconv.Atoi(proto); err == nil {
		name = "proto " + proto
	}
	if slices.Contains(ports, "*") {
		if proto == "tcp" || proto == "udp" {
			return name + " all ports"
		}
		return name
	}
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b string) int { return cmp.Compare(portStart(a), portStart(b)) })
	return name + " " + strings.Join(slices.Compact(ports), ", ")
}

// compareProtos orders tcp, udp and icmp first, then protocol numbers.
func compareProtos(a, b string) int {
	rank := func(p string) (int, int) {
		if i := slices.Index([]string{"tcp", "udp", "icmp"}, p); i >= 0 {
			return i, 0
		}
		n, _ := strconv.Atoi(p)
		return 3, n
	}
	ra, na := rank(a)
	rb, nb := rank(b)
	return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(na, nb), strings.Compare(a, b))
}

// portStart is the first port of "80" or "80-90".
func portStart(s string) int {
	lo, _, _ := strings.Cut(s, "-")
	n, _ := strconv.Atoi(lo)
	return n
}
