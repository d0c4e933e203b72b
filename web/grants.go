package web

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/filter"
)

// NodeGrants lists who may reach the node named dst of a compiled policy,
// on which protocols and ports, from the node's inbound filter: a source
// address of a node becomes its owner's email or its tags, any other source
// stays a prefix. The result is sorted and has no duplicates. A Backend may
// use it for NodeAccess.
func NodeGrants(c *acl.Compiled, dst string) ([]Grant, error) {
	n, ok := c.Node(dst)
	if !ok {
		return nil, fmt.Errorf("grants of %q: %w", dst, ErrNotFound)
	}
	res, err := c.Result(dst)
	if err != nil {
		return nil, fmt.Errorf("grants of %q: %w", dst, err)
	}
	owners := ownersOf(c)
	set := map[Grant]bool{}
	for _, r := range res.Filter {
		for _, d := range r.Dst {
			name := dst
			if !d.Net.Contains(n.IPv4) && !d.Net.Contains(n.IPv6) {
				name = fmt.Sprintf("%s (%s)", dst, d.Net)
			}
			for _, src := range sourcesOf(r.Src, owners) {
				for _, p := range r.EffectiveProtos() {
					for _, ports := range portsOf(p, d.Ports) {
						set[Grant{Src: src, Dst: name, Proto: protoName(p), Ports: ports}] = true
					}
				}
			}
		}
	}
	return sortGrants(set), nil
}

// Grants lists the grants of every node of a compiled policy (see
// NodeGrants). A Backend may use it with DiffGrants for PolicyImpact.
func Grants(c *acl.Compiled) ([]Grant, error) {
	set := map[Grant]bool{}
	for _, name := range c.NodeNames() {
		gs, err := NodeGrants(c, name)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			set[g] = true
		}
	}
	return sortGrants(set), nil
}

// DiffGrants returns what after adds to and removes from before.
func DiffGrants(before, after []Grant) Impact {
	had := map[Grant]bool{}
	for _, g := range before {
		had[g] = true
	}
	has := map[Grant]bool{}
	for _, g := range after {
		has[g] = true
	}
	im := Impact{Added: []Grant{}, Removed: []Grant{}}
	for _, g := range after {
		if !had[g] {
			im.Added = append(im.Added, g)
		}
	}
	for _, g := range before {
		if !has[g] {
			im.Removed = append(im.Removed, g)
		}
	}
	return im
}

// ownersOf maps every node address to the node's identity.
func ownersOf(c *acl.Compiled) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, name := range c.NodeNames() {
		n, _ := c.Node(name)
		id := n.User
		if len(n.Tags) > 0 {
			id = strings.Join(n.Tags, ",")
		}
		if id == "" {
			id = name
		}
		out[n.IPv4], out[n.IPv6] = id, id
	}
	return out
}

func sourcesOf(srcs []netip.Prefix, owners map[netip.Addr]string) []string {
	var out []string
	for _, p := range srcs {
		s := p.String()
		if id, ok := owners[p.Addr()]; ok && p.IsSingleIP() {
			s = id
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func portsOf(p filter.Proto, ranges []filter.PortRange) []string {
	if !p.HasPorts() || len(ranges) == 0 {
		return []string{"*"}
	}
	out := make([]string, len(ranges))
	for i, r := range ranges {
		out[i] = r.String()
	}
	return out
}

func protoName(p filter.Proto) string {
	switch p {
	case filter.ProtoTCP:
		return "tcp"
	case filter.ProtoUDP:
		return "udp"
	case filter.ProtoICMP, filter.ProtoICMPv6:
		return "icmp"
	}
	return strconv.Itoa(int(p))
}

func sortGrants(set map[Grant]bool) []Grant {
	out := make([]Grant, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return cmp.Or(strings.Compare(a.Dst, b.Dst), strings.Compare(a.Src, b.Src),
			strings.Compare(a.Proto, b.Proto), strings.Compare(a.Ports, b.Ports))
	})
	return out
}
