package acl

import (
	"math/rand"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wardnet/ward/filter"
)

// oracle answers "may src reach dst on node over proto:port?" straight from
// a generated policy and inventory, by the meaning of each alias, without
// the compiler's node sets, filters or matcher. Fuzz tests compare it with
// the compiled filter.
type oracle struct {
	pol     genPolicy
	inv     Inventory
	members map[string][]string // group -> users, file and IdP
	hosts   map[string]netip.Prefix
}

func newOracle(pol genPolicy, inv Inventory) *oracle {
	o := &oracle{pol: pol, inv: inv, members: inv.ExternalGroups(), hosts: map[string]netip.Prefix{}}
	for _, g := range pol.groups {
		for _, m := range strings.Split(strings.Trim(g[1], "[]"), ",") {
			if m = strings.Trim(strings.TrimSpace(m), `"`); m != "" {
				o.members[g[0]] = append(o.members[g[0]], m)
			}
		}
	}
	for _, h := range pol.hosts {
		o.hosts[h[0]] = mustPrefix(h[1])
	}
	return o
}

func mustPrefix(s string) netip.Prefix {
	if strings.Contains(s, "/") {
		return netip.MustParsePrefix(s)
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// allows reports whether some rule lets src reach dst, one of node's
// addresses or an address inside one of its routes.
func (o *oracle) allows(node Node, src, dst netip.Addr, proto filter.Proto, port uint16) bool {
	if src.Is4() != dst.Is4() {
		return false
	}
	accepted := false
	for _, r := range o.pol.rules {
		if o.ruleMatches(r, node, src, dst, proto, port) {
			if r.deny {
				return false // a deny refuses whatever accepts say
			}
			accepted = true
		}
	}
	return accepted
}

// ruleMatches reports whether r (accept or deny) covers the flow.
func (o *oracle) ruleMatches(r genRule, node Node, src, dst netip.Addr, proto filter.Proto, port uint16) bool {
	protos := oracleProtos(r.proto)
	if r.deny && r.proto == "" && slices.ContainsFunc(r.dst, func(d genDst) bool { return d.ports != "*" }) {
		protos = []filter.Proto{filter.ProtoTCP, filter.ProtoUDP} // a deny naming ports spares ICMP
	}
	if !slices.Contains(protos, proto) {
		return false
	}
	for _, d := range r.dst {
		if (!proto.HasPorts() || oraclePorts(d.ports, port)) && o.dstAllows(r, d.alias, node, src, dst) {
			return true
		}
	}
	return false
}

func (o *oracle) dstAllows(r genRule, alias string, node Node, src, dst netip.Addr) bool {
	own := dst == node.IPv4 || dst == node.IPv6
	if len(r.via) > 0 {
		// Only on a router with a via tag, toward its routes.
		viaTagged := slices.ContainsFunc(node.Tags, func(t string) bool { return slices.Contains(r.via, t) })
		if alias == "autogroup:internet" || !viaTagged || !inRoutes(node, dst) || !o.prefix(alias).Contains(dst) {
			return false
		}
		return o.srcAllows(r, src)
	}
	switch {
	case alias == "autogroup:internet":
		return false
	case alias == "autogroup:self":
		// src must be an address of a node of the same user that the
		// rule's src covers.
		if !o.isMember(node) || !own {
			return false
		}
		for _, s := range o.inv.Nodes {
			if (src == s.IPv4 || src == s.IPv6) && o.isMember(s) && s.User == node.User && o.srcCoversNode(r, s) {
				return true
			}
		}
		return false
	case alias == "*":
		if !own && !inRoutes(node, dst) {
			return false
		}
	case o.isIdentity(alias):
		if !own || !o.covers(alias, node) {
			return false
		}
	default:
		if !o.prefix(alias).Contains(dst) || (!own && !inRoutes(node, dst)) {
			return false
		}
	}
	return o.srcAllows(r, src)
}

func inRoutes(n Node, a netip.Addr) bool {
	return slices.ContainsFunc(n.Routes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// srcAllows reports whether a packet from address src is covered by the
// rule's src: an address literal containing it, or an identity covering a
// node that has it.
func (o *oracle) srcAllows(r genRule, src netip.Addr) bool {
	for _, a := range r.src {
		switch {
		case a == "*" || a == "autogroup:danger-all":
			return true
		case o.isIdentity(a):
			for _, n := range o.inv.Nodes {
				if (src == n.IPv4 || src == n.IPv6) && o.covers(a, n) {
					return true
				}
			}
		case o.prefix(a).Contains(src):
			return true
		}
	}
	return false
}

// srcCoversNode reports whether the rule's src covers node n: by identity,
// or by an address literal overlapping its addresses or routes.
func (o *oracle) srcCoversNode(r genRule, n Node) bool {
	for _, a := range r.src {
		switch {
		case a == "*" || a == "autogroup:danger-all":
			return true
		case o.isIdentity(a):
			if o.covers(a, n) {
				return true
			}
		default:
			p := o.prefix(a)
			for _, q := range append(nodePrefixes(n), n.Routes...) {
				if p.Overlaps(q) {
					return true
				}
			}
		}
	}
	return false
}

func nodePrefixes(n Node) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
		if a.IsValid() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func (o *oracle) isIdentity(a string) bool {
	return strings.Contains(a, "@") || strings.HasPrefix(a, "group:") || strings.HasPrefix(a, "tag:") ||
		strings.HasPrefix(a, "risk:") || a == "autogroup:member" || a == "autogroup:tagged"
}

func (o *oracle) isMember(n Node) bool { return len(n.Tags) == 0 && n.User != "" }

// covers reports whether identity alias a names node n.
func (o *oracle) covers(a string, n Node) bool {
	switch {
	case a == "autogroup:member":
		return o.isMember(n)
	case a == "autogroup:tagged":
		return len(n.Tags) > 0
	case strings.HasPrefix(a, "tag:"):
		return slices.Contains(n.Tags, a)
	case strings.HasPrefix(a, "group:"):
		return o.isMember(n) && slices.Contains(o.members[a], n.User)
	case strings.HasPrefix(a, "risk:"):
		risk := n.Risk
		if !slices.Contains(DefaultRiskClasses, risk) {
			risk = "standard" // the default policy's last class
		}
		return a == "risk:"+risk
	case strings.Contains(a, "*@"):
		_, domain, _ := strings.Cut(a, "*@")
		return o.isMember(n) && strings.HasSuffix(strings.ToLower(n.User), "@"+strings.ToLower(domain))
	}
	return o.isMember(n) && n.User == strings.TrimPrefix(a, "user:")
}

func (o *oracle) prefix(a string) netip.Prefix {
	if p, ok := o.hosts[a]; ok {
		return p
	}
	return mustPrefix(a)
}

func oracleProtos(p string) []filter.Proto {
	switch p {
	case "":
		return []filter.Proto{6, 17, 1, 58}
	case "tcp":
		return []filter.Proto{6}
	case "udp", "17":
		return []filter.Proto{17}
	case "icmp":
		return []filter.Proto{1, 58}
	case "gre":
		return []filter.Proto{47}
	case "sctp":
		return []filter.Proto{132}
	}
	panic("oracle: unknown proto " + p)
}

func oraclePorts(spec string, port uint16) bool {
	if spec == "*" {
		return true
	}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		if int(port) >= l && int(port) <= h {
			return true
		}
	}
	return false
}

// TestCompileMatchesOracle compiles random fleets and policies (seeded) and
// checks every node's Matcher against the oracle and the reference
// evaluator, as FuzzCompileMatch does, deterministically.
func TestCompileMatchesOracle(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		g := newFleetGen(r)
		inv := g.inventory(r.Intn(16))
		pol := g.policy(1 + r.Intn(10))
		c := mustCompile(t, pol.text(), inv)
		o := newOracle(pol, inv)
		results := c.All()
		for _, node := range inv.Nodes {
			checkNodeMatcher(t, r, o, node, results[node.Name].Filter, pol)
		}
	}
}
