package coordinator

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/web"
)

// grantSet is a set of grants.
type grantSet map[web.Grant]bool

// identities names each live node's owner as grants show it: the user's
// email, or the node's tags.
func (m *netmap) identitiesLocked() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for id := range m.live {
		n := m.nodes[id]
		who := m.emails[n.UserID]
		if len(n.Tags) > 0 {
			who = strings.Join(n.Tags, ",")
		}
		if who == "" {
			who = n.Name
		}
		for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
			if a.IsValid() {
				out[a] = who
			}
		}
	}
	return out
}

// grantsLocked lists the grants of comp toward node dst (every node when dst
// is ""). who names sources by address.
func grantsLocked(comp *acl.Compiled, who map[netip.Addr]string, dst string) (grantSet, error) {
	names := comp.NodeNames()
	if dst != "" {
		names = []string{dst}
	}
	out := grantSet{}
	for _, name := range names {
		res, err := comp.Result(name)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Filter {
			addRuleGrants(out, r, name, who)
		}
	}
	return out, nil
}

func addRuleGrants(out grantSet, r filter.Rule, dst string, who map[netip.Addr]string) {
	srcs := sourceNames(r.Src, who)
	for _, proto := range protoNames(r.EffectiveProtos()) {
		for _, d := range r.Dst {
			for _, pr := range d.Ports {
				ports := pr.String()
				if proto == "icmp" {
					ports = "*"
				}
				for _, s := range srcs {
					out[web.Grant{Src: s, Dst: dst, Proto: proto, Ports: ports}] = true
				}
			}
		}
	}
}

// sourceNames maps source prefixes to identities: "*" for any address, the
// owners of the nodes inside, or the prefix itself when no node is.
func sourceNames(ps []netip.Prefix, who map[netip.Addr]string) []string {
	set := map[string]bool{}
	for _, p := range ps {
		if p.Bits() == 0 {
			set["*"] = true
			continue
		}
		found := false
		for a, name := range who {
			if p.Contains(a) {
				set[name], found = true, true
			}
		}
		if !found {
			set[p.String()] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// protoNames names protocols; ICMP and ICMPv6 read as one "icmp".
func protoNames(ps []filter.Proto) []string {
	set := map[string]bool{}
	for _, p := range ps {
		switch p {
		case filter.ProtoTCP:
			set["tcp"] = true
		case filter.ProtoUDP:
			set["udp"] = true
		case filter.ProtoICMP, filter.ProtoICMPv6:
			set["icmp"] = true
		default:
			set[fmt.Sprint(uint8(p))] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (g grantSet) sorted() []web.Grant {
	out := make([]web.Grant, 0, len(g))
	for k := range g {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b web.Grant) int {
		return strings.Compare(a.Dst+"\x00"+a.Src+"\x00"+a.Proto+"\x00"+a.Ports, b.Dst+"\x00"+b.Src+"\x00"+b.Proto+"\x00"+b.Ports)
	})
	return out
}

// impact compares the running policy with rs on the live inventory.
func (m *netmap) impact(rs *acl.Ruleset) (web.Impact, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv := acl.Inventory{}
	for id := range m.live {
		inv.Nodes = append(inv.Nodes, m.aclNodeLocked(m.nodes[id]))
	}
	next, err := acl.Compile(rs, inv)
	if err != nil {
		return web.Impact{}, err
	}
	who := m.identitiesLocked()
	before, err := grantsLocked(m.comp, who, "")
	if err != nil {
		return web.Impact{}, err
	}
	after, err := grantsLocked(next, who, "")
	if err != nil {
		return web.Impact{}, err
	}
	out := web.Impact{Added: []web.Grant{}, Removed: []web.Grant{}}
	for g := range after {
		if !before[g] {
			out.Added = append(out.Added, g)
		}
	}
	for g := range before {
		if !after[g] {
			out.Removed = append(out.Removed, g)
		}
	}
	out.Added, out.Removed = grantSet(toSet(out.Added)).sorted(), grantSet(toSet(out.Removed)).sorted()
	return out, nil
}

func toSet(gs []web.Grant) grantSet {
	out := grantSet{}
	for _, g := range gs {
		out[g] = true
	}
	return out
}

// access lists the grants toward node name under the running policy.
func (m *netmap) access(name string) ([]web.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[name]
	if !ok || !m.live[id] {
		return []web.Grant{}, nil
	}
	gs, err := grantsLocked(m.comp, m.identitiesLocked(), name)
	if err != nil {
		return nil, err
	}
	return gs.sorted(), nil
}
