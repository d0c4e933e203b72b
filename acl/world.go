package acl

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/wardnet/ward/filter"
)

// world is a synthetic fleet with one node per identity a test or an
// explanation names. Tests are judged by compiling the policy against it and
// asking each destination node's filter.Matcher, the same matcher the data
// plane runs, so the checker cannot drift from enforcement.
type world struct {
	rs  *Ruleset
	inv Inventory
	// nodes maps a synthetic node's name to its index in inv.Nodes.
	nodes    map[string]int
	literals []netip.Prefix
	// viaTags are the router tags of the policy's "via" grants: a routed
	// destination's synthetic router carries them all, so a test through
	// a via grant is judged on a router the grant applies on.
	viaTags  []string
	next4    netip.Addr
	next6    netip.Addr
	comp     *Compiled
	matchers map[string]*filter.Matcher
	results  map[string]NodeResult
}

// endpoint is one concrete source or destination of a query.
type endpoint struct {
	node string       // synthetic node name, or "" for a raw address
	v4   netip.Addr   // source addresses (node's or the literal's)
	v6   netip.Addr   //
	dst  netip.Prefix // for destinations given as an address or CIDR
}

const syntheticDomain = "@ward.invalid"

func newWorld(rs *Ruleset) *world {
	w := &world{rs: rs, nodes: map[string]int{},
		next4: netip.MustParseAddr("100.64.0.1"), next6: netip.MustParseAddr("fd7a:ffff:ffff::1"),
		matchers: map[string]*filter.Matcher{}, results: map[string]NodeResult{}}
	for _, h := range rs.hosts {
		w.literals = append(w.literals, h)
	}
	for _, r := range rs.rules {
		w.viaTags = append(w.viaTags, r.via...)
		for _, a := range r.src {
			if a.kind == kindPrefix {
				w.literals = append(w.literals, a.prefix)
			}
		}
		for _, e := range r.dst {
			if e.alias.kind == kindPrefix {
				w.literals = append(w.literals, e.alias.prefix)
			}
		}
	}
	w.viaTags = dedupSorted(w.viaTags)
	// Synthetic users are members of every group, one per group, so a test
	// whose source is a group is judged for a member that has no other
	// grant of its own.
	groups := maps.Clone(rs.groups)
	userGroups := maps.Clone(rs.userGroups)
	for g := range rs.groups {
		u := "member-of-" + strings.TrimPrefix(g, "group:") + syntheticDomain
		groups[g] = append(slices.Clone(groups[g]), u)
		userGroups[u] = []string{g}
	}
	cp := *rs
	cp.groups, cp.userGroups = groups, userGroups
	w.rs = &cp
	return w
}

// alloc returns the next synthetic addresses that no policy literal covers.
func (w *world) alloc() (netip.Addr, netip.Addr) {
	pick := func(a *netip.Addr) netip.Addr {
		// Each step either returns or moves past a whole covering literal,
		// never to come back: at most one step per literal.
		for range len(w.literals) + 1 {
			cand := *a
			i := slices.IndexFunc(w.literals, func(p netip.Prefix) bool { return p.Contains(cand) && p.Bits() > 0 })
			if i < 0 {
				*a = cand.Next()
				return cand
			}
			next := lastAddr(w.literals[i]).Next()
			if !next.IsValid() {
				break // the literals cover the rest of the family
			}
			*a = next
		}
		return *a
	}
	return pick(&w.next4), pick(&w.next6)
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (w *world) addNode(name, user string, tags []string, routes []netip.Prefix) endpoint {
	i, ok := w.nodes[name]
	if !ok {
		n := Node{Name: name, User: user, Tags: tags, Routes: routes}
		if len(routes) == 0 {
			n.IPv4, n.IPv6 = w.alloc()
		}
		i = len(w.inv.Nodes)
		w.nodes[name] = i
		w.inv.Nodes = append(w.inv.Nodes, n)
	}
	n := w.inv.Nodes[i]
	return endpoint{node: name, v4: n.IPv4, v6: n.IPv6}
}

func (w *world) user(u string) endpoint { return w.addNode("user/"+u, u, nil, nil) }

// sources returns the concrete senders an alias stands for in a test src.
func (w *world) sources(a alias) []endpoint {
	switch a.kind {
	case kindUser:
		return []endpoint{w.user(a.name)}
	case kindDomain:
		return []endpoint{w.user("someone" + a.name)}
	case kindGroup:
		var out []endpoint
		for _, u := range w.rs.groups[a.name] {
			out = append(out, w.user(u))
		}
		return out
	case kindTag:
		return []endpoint{w.addNode("tag/"+a.name, "", []string{a.name}, nil)}
	case kindRisk:
		// A device of the class with no tag of its own: it is reached
		// only through rules that name its class.
		ep := w.addNode("risk/"+a.name, "", []string{"tag:ward-synthetic-risk"}, nil)
		w.inv.Nodes[w.nodes[ep.node]].Risk = a.name
		return []endpoint{ep}
	case kindMember:
		return []endpoint{w.user("someone" + syntheticDomain)}
	case kindTagged:
		return []endpoint{w.addNode("tagged/any", "", []string{"tag:ward-synthetic"}, nil)}
	case kindAny:
		return []endpoint{w.addNode("any/src", "", nil, nil)}
	case kindPrefix:
		ep := endpoint{}
		if a.prefix.Addr().Is4() {
			ep.v4 = a.prefix.Addr()
		} else {
			ep.v6 = a.prefix.Addr()
		}
		return []endpoint{ep}
	}
	return nil
}

// targets returns the concrete destinations an alias stands for, for a
// given source (autogroup:self depends on it).
func (w *world) targets(a alias, src endpoint) ([]endpoint, error) {
	switch a.kind {
	case kindUser, kindGroup, kindTag, kindRisk:
		return w.sources(a), nil
	case kindDomain:
		return []endpoint{w.user("someone-else" + a.name)}, nil
	case kindMember:
		return []endpoint{w.user("someone-else" + syntheticDomain)}, nil
	case kindTagged:
		return []endpoint{w.addNode("tagged/other", "", []string{"tag:ward-synthetic-2"}, nil)}, nil
	case kindSelf:
		if i, ok := w.nodes[src.node]; ok {
			if n := w.inv.Nodes[i]; n.User != "" && len(n.Tags) == 0 {
				return []endpoint{w.addNode("self/"+n.User, n.User, nil, nil)}, nil
			}
		}
		return nil, fmt.Errorf("autogroup:self needs a user (or group) source")
	case kindAny:
		return w.routes(netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")), nil
	case kindPrefix:
		return w.routes(a.prefix), nil
	}
	return nil, fmt.Errorf("%s cannot be a test destination", a.text)
}

func (w *world) routes(ps ...netip.Prefix) []endpoint {
	var out []endpoint
	for _, p := range ps {
		ep := w.addNode("route/"+p.String(), "", w.viaTags, []netip.Prefix{p})
		ep.dst = p
		out = append(out, ep)
	}
	return out
}

// verdict is the outcome of one (source, destination, protocol, port):
// rule is the accept rule that allowed it, or the deny rule that refused
// it (then deny is set); nil when refused by default.
type verdict struct {
	allow bool
	deny  bool
	rule  *Pos
}

// judge asks dst's matcher about a flow from src. It must be called after
// compile.
func (w *world) judge(src, dst endpoint, proto filter.Proto, port uint16) verdict {
	m, res := w.matcher(dst.node)
	var ok bool
	var idx int
	switch {
	case dst.dst.IsValid():
		s := src.v4
		if dst.dst.Addr().Is6() {
			s = src.v6
		}
		ok, idx = m.MatchPrefix(s, dst.dst, proto, port)
	default:
		d := w.nodeAddrs(dst.node)
		if ok, idx = m.Match(src.v4, d[0], proto, port); !ok {
			ok4, idx4 := ok, idx
			if ok, idx = m.Match(src.v6, d[1], proto, port); !ok && idx < 0 {
				ok, idx = ok4, idx4 // an IPv4 deny decides when IPv6 has no rule
			}
		}
	}
	if idx < 0 {
		return verdict{}
	}
	p := res.Origins[idx]
	return verdict{allow: ok, deny: !ok, rule: &p}
}

func (w *world) nodeAddrs(name string) [2]netip.Addr {
	i, ok := w.nodes[name]
	if !ok {
		return [2]netip.Addr{}
	}
	return [2]netip.Addr{w.inv.Nodes[i].IPv4, w.inv.Nodes[i].IPv6}
}

// compile compiles the policy against the synthetic fleet built so far.
func (w *world) compile() error {
	c, err := Compile(w.rs, w.inv)
	if err != nil {
		return fmt.Errorf("compile test fleet: %w", err)
	}
	w.comp = c
	return nil
}

// matcher returns the Result and Matcher of the synthetic node named name,
// computing them on first use: only destinations need one, and a policy
// with many test sources would otherwise build one per source.
func (w *world) matcher(name string) (*filter.Matcher, NodeResult) {
	if m, ok := w.matchers[name]; ok {
		return m, w.results[name]
	}
	res, _ := w.comp.Result(name) // an unknown name yields an empty Matcher: deny
	m := filter.Compile(res.Filter)
	w.matchers[name], w.results[name] = m, res
	return m, res
}

// protosFor returns the protocols to try toward an address family: ICMP
// applies to IPv4 only and ICMPv6 to IPv6 only.
func protosFor(ps []filter.Proto, v6 bool) []filter.Proto {
	var out []filter.Proto
	for _, p := range ps {
		if (p == filter.ProtoICMP && v6) || (p == filter.ProtoICMPv6 && !v6) {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return ps
	}
	return out
}
