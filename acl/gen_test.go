package acl

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// chooser is the source of random choices of a generator: a seeded
// *math/rand.Rand in property tests, the fuzzer's bytes in fuzz tests.
type chooser interface{ Intn(n int) int }

func pick[T any](c chooser, s []T) T { return s[c.Intn(len(s))] }

// genPolicy is a random policy in structured form, so that a test can
// reason about what it means as well as render it.
type genPolicy struct {
	groups [][2]string // name, JSON list of members
	tags   []string
	hosts  [][2]string // name, address
	rules  []genRule
}

type genRule struct {
	src   []string
	dst   []genDst
	proto string // "" = defaults
	deny  bool
	// via, when set, makes the rule grants routed through routers with
	// these tags (one grant per destination).
	via []string
}

type genDst struct{ alias, ports string }

// text renders the policy as HuJSON (with a trailing comma or two).
func (g genPolicy) text() string {
	var sb strings.Builder
	sb.WriteString("{\n  \"groups\": {")
	for _, gr := range g.groups {
		fmt.Fprintf(&sb, "%q: %s, ", gr[0], gr[1])
	}
	sb.WriteString("},\n  \"tagOwners\": {")
	for _, t := range g.tags {
		fmt.Fprintf(&sb, "%q: [], ", t)
	}
	sb.WriteString("},\n  \"hosts\": {")
	for _, h := range g.hosts {
		fmt.Fprintf(&sb, "%q: %q, ", h[0], h[1])
	}
	sb.WriteString("},\n  \"grants\": [\n")
	for _, r := range g.rules {
		if len(r.via) > 0 {
			sb.WriteString(r.grantsText())
		}
	}
	sb.WriteString("  ],\n  \"acls\": [\n")
	for _, r := range g.rules {
		if len(r.via) > 0 {
			continue
		}
		var dst []string
		for _, d := range r.dst {
			dst = append(dst, fmt.Sprintf("%q", hostPort(d.alias, d.ports)))
		}
		var src []string
		for _, s := range r.src {
			src = append(src, fmt.Sprintf("%q", s))
		}
		action := "accept"
		if r.deny {
			action = "deny"
		}
		fmt.Fprintf(&sb, "    {\"action\": %q, \"src\": [%s], \"dst\": [%s]", action, strings.Join(src, ", "), strings.Join(dst, ", "))
		if r.proto != "" {
			fmt.Fprintf(&sb, ", \"proto\": %q", r.proto)
		}
		sb.WriteString("},\n")
	}
	sb.WriteString("  ],\n}\n")
	return sb.String()
}

// grantsText renders a via rule as grants, one per destination (a grant's
// "ip" applies to all its destinations).
func (r genRule) grantsText() string {
	var sb strings.Builder
	src, _ := json.Marshal(r.src)
	via, _ := json.Marshal(r.via)
	for _, d := range r.dst {
		ip := d.ports
		if r.proto != "" {
			ip = r.proto + ":" + d.ports
		}
		fmt.Fprintf(&sb, "    {\"src\": %s, \"dst\": [%q], \"ip\": [%q], \"via\": %s},\n", src, d.alias, ip, via)
	}
	return sb.String()
}

func hostPort(alias, ports string) string {
	if strings.Count(alias, ":") > 1 { // IPv6 address or CIDR
		return "[" + alias + "]:" + ports
	}
	return alias + ":" + ports
}

// fleetGen generates small random fleets and policies whose aliases
// collide often: few users, groups and tags, addresses from a small pool,
// literals that cover node addresses and routes.
type fleetGen struct {
	c      chooser
	users  []string
	groups []string // file groups
	idp    []string // IdP-only groups; group:g0 comes from both
	tags   []string
	hosts  []string
	serial int
}

func newFleetGen(c chooser) *fleetGen {
	g := &fleetGen{c: c}
	for i := range 2 + c.Intn(5) {
		g.users = append(g.users, fmt.Sprintf("u%d@example.com", i))
	}
	for i := range 1 + c.Intn(3) {
		g.groups = append(g.groups, fmt.Sprintf("group:g%d", i))
	}
	g.idp = []string{"group:g0", "group:idp"}
	for i := range 1 + c.Intn(4) {
		g.tags = append(g.tags, fmt.Sprintf("tag:t%d", i))
	}
	return g
}

var (
	genPorts  = []string{"*", "22", "80,443", "8000-8100", "22,80-90,443", "0", "65535"}
	genProtos = []string{"", "", "", "tcp", "udp", "icmp", "17", "gre", "sctp"}
)

// addr4 and addr6 are the node address pool: 100.64.0.1-24 and
// fd7a:115c:a1e0::1-24, so nodes sometimes share an address.
func (g *fleetGen) addr4() netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64, 0, byte(1 + g.c.Intn(24))})
}
func (g *fleetGen) addr6() netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 15: byte(1 + g.c.Intn(24))})
}

// node returns a random node named name.
func (g *fleetGen) node(name string) Node {
	n := Node{Name: name}
	if g.c.Intn(8) != 0 {
		n.IPv4 = g.addr4()
	}
	if g.c.Intn(8) != 0 {
		n.IPv6 = g.addr6()
	}
	switch g.c.Intn(3) {
	case 0, 1:
		n.User = pick(g.c, g.users)
		if g.c.Intn(6) == 0 {
			n.User = "" // neither owner nor tags
		}
	default:
		for range 1 + g.c.Intn(2) {
			n.Tags = append(n.Tags, pick(g.c, g.tags))
		}
		n.Tags = dedupSorted(n.Tags)
		if g.c.Intn(4) == 0 {
			n.User = pick(g.c, g.users) // ignored: the node is tagged
		}
	}
	if g.c.Intn(5) == 0 {
		n.Routes = append(n.Routes, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(g.c.Intn(4)), 0}), 24))
	}
	n.Risk = pick(g.c, []string{"", "", "critical", "sensitive", "standard", "retired"}) // "retired": not a class

	return n
}

func (g *fleetGen) newName() string {
	g.serial++
	return fmt.Sprintf("n%d", g.serial)
}

// inventory returns a fleet of n random nodes, with the users' IdP groups.
func (g *fleetGen) inventory(n int) Inventory {
	var inv Inventory
	for i, u := range g.users {
		usr := User{Email: u}
		for _, gr := range g.idp {
			if i == 0 || g.c.Intn(3) == 0 { // the first user defines them all
				usr.Groups = append(usr.Groups, gr)
			}
		}
		inv.Users = append(inv.Users, usr)
	}
	for range n {
		inv.Nodes = append(inv.Nodes, g.node(g.newName()))
	}
	return inv
}

// policy returns a random valid policy over g's names.
func (g *fleetGen) policy(rules int) genPolicy {
	var p genPolicy
	for _, gr := range g.groups {
		var ms []string
		for _, u := range g.users {
			if g.c.Intn(2) == 0 {
				ms = append(ms, fmt.Sprintf("%q", u))
			}
		}
		p.groups = append(p.groups, [2]string{gr, "[" + strings.Join(ms, ", ") + "]"})
	}
	p.tags = g.tags
	p.hosts = [][2]string{{"h-node", g.addr4().String()}, {"h-lan", "10.1.0.0/16"}, {"h-net", "100.64.0.0/28"}, {"h-six", "fd7a:115c:a1e0::/124"}}
	for range rules {
		p.rules = append(p.rules, g.rule())
	}
	return p
}

func (g *fleetGen) alias(dst bool) string {
	switch g.c.Intn(15) {
	case 0:
		return "*"
	case 1, 2:
		return pick(g.c, g.users)
	case 3:
		return pick(g.c, append(slices.Clone(g.groups), g.idp...))
	case 4, 5:
		return pick(g.c, g.tags)
	case 6:
		return "autogroup:member"
	case 7:
		return "autogroup:tagged"
	case 8:
		return pick(g.c, []string{"h-node", "h-lan", "h-net", "h-six"})
	case 9:
		return g.addr4().String()
	case 10:
		return g.addr6().String()
	case 11:
		return pick(g.c, []string{"100.64.0.0/29", "100.64.0.8/30", "10.1.1.0/24", "10.0.0.0/8", "fd7a:115c:a1e0::/120", "0.0.0.0/0"})
	case 12:
		if dst {
			return "autogroup:internet"
		}
		return pick(g.c, []string{"autogroup:member", "autogroup:danger-all"})
	case 14:
		return pick(g.c, []string{"user:*@example.com", "*@EXAMPLE.com", "user:*@other.org"})
	case 13:
		return pick(g.c, []string{"risk:critical", "risk:sensitive", "risk:standard"})
	}
	return pick(g.c, g.users)
}

// viaRule returns a random grant routed through tagged routers: toward
// addresses only, on ports other than 0 (which grants refuse).
func (g *fleetGen) viaRule() genRule {
	r := genRule{proto: pick(g.c, genProtos)}
	for range 1 + g.c.Intn(2) {
		r.src = append(r.src, g.alias(false))
	}
	for range 1 + g.c.Intn(2) {
		r.via = append(r.via, pick(g.c, g.tags))
	}
	for range 1 + g.c.Intn(2) {
		d := genDst{alias: pick(g.c, []string{"h-lan", "h-node", "10.1.1.0/24", "10.1.2.7", "10.0.0.0/8", "autogroup:internet"}),
			ports: pick(g.c, []string{"*", "22", "80,443", "8000-8100", "65535"})}
		if r.proto != "" && !slices.Contains([]string{"tcp", "udp", "17", "sctp"}, r.proto) {
			d.ports = "*"
		}
		r.dst = append(r.dst, d)
	}
	return r
}

func (g *fleetGen) rule() genRule {
	if g.c.Intn(6) == 0 {
		return g.viaRule()
	}
	r := genRule{proto: pick(g.c, genProtos)}
	for range 1 + g.c.Intn(3) {
		r.src = append(r.src, g.alias(false))
	}
	selfOK := !slices.ContainsFunc(r.src, func(s string) bool {
		return !(s == "*" || s == "autogroup:danger-all" || s == "autogroup:member" || strings.HasPrefix(s, "group:") || strings.Contains(s, "@"))
	})
	for range 1 + g.c.Intn(3) {
		d := genDst{alias: g.alias(true), ports: pick(g.c, genPorts)}
		if selfOK && g.c.Intn(4) == 0 {
			d.alias = "autogroup:self"
		}
		if r.proto != "" && !slices.Contains([]string{"tcp", "udp", "17", "sctp"}, r.proto) {
			d.ports = "*"
		}
		r.dst = append(r.dst, d)
	}
	r.deny = g.c.Intn(5) == 0
	return r
}
