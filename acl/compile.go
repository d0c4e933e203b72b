package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wardnet/ward/filter"
)

// Sentinel errors of the compiler.
var (
	ErrDuplicateNode = errors.New("duplicate node name")
	ErrUnknownNode   = errors.New("unknown node")
	ErrBadNode       = errors.New("bad node")
)

// Inventory is the live fleet a policy is compiled against.
type Inventory struct {
	Users []User `json:"users"`
	Nodes []Node `json:"nodes"`
}

// User is a person and the groups the identity provider puts them in.
type User struct {
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
}

// Node is one machine of the fleet. A node is owned by a user or by tags,
// never both: when Tags is not empty the node is tagged and User is ignored.
type Node struct {
	Name string     `json:"name"`
	IPv4 netip.Addr `json:"ipv4"`
	IPv6 netip.Addr `json:"ipv6"`
	// User is the owner's email; empty for tagged nodes.
	User string   `json:"user"`
	Tags []string `json:"tags"`
	// Routes are approved subnet routes the node serves; may be empty.
	Routes []netip.Prefix `json:"routes,omitempty"`
	// Risk is the node's risk class; empty (or a class the policy does
	// not define) for the policy's default class.
	Risk string `json:"risk,omitempty"`
}

// ExternalGroups returns the users' groups as Options.ExternalGroups.
func (inv Inventory) ExternalGroups() map[string][]string {
	out := map[string][]string{}
	for _, u := range inv.Users {
		for _, g := range u.Groups {
			out[g] = append(out[g], u.Email)
		}
	}
	return out
}

// NodeResult is what one node receives: the peers it may see (it can reach
// them or they can reach it) and its inbound filter.
type NodeResult struct {
	Peers  []string      `json:"peers"`
	Filter []filter.Rule `json:"filter"`
	// Caps are the application capabilities that "app" grants give peers
	// on this node, in policy order; kept for future use, they grant no
	// IP traffic.
	Caps []CapGrant `json:"caps,omitempty"`
	// Origins[i] is the position of the policy rule Filter[i] comes from.
	Origins []Pos `json:"-"`
}

// Compiled is a policy compiled against an inventory. It keeps per-rule node
// sets so that one node joining or leaving updates only what it touches.
//
// A Compiled is not safe for concurrent use: it has one owner (the
// coordinator's policy engine), which serializes calls.
type Compiled struct {
	rs     *Ruleset
	nodes  []*nodeState // by index; nil for a free slot
	byName map[string]int32
	free   []int32
	// userNodes maps an email to its untagged nodes.
	userNodes map[string]*bitset
	rules     []*crule
	// order sorts the nodes by name.
	order nameOrder
}

type nodeState struct {
	Node
	idx    int32
	tagged bool
	// risk is the node's effective risk class (Ruleset.RiskOf).
	risk string
	// own lists the node's addresses as single-address prefixes.
	own []netip.Prefix
	// rules lists, ascending, the indexes of the rules that involve the
	// node: it is in their src or dst, or they grant autogroup:self and it
	// is a user's node. It depends only on the node and the policy, so it
	// is set once, when the node is matched.
	rules []int32
}

// isMember reports whether n is a user's (untagged) node.
func (n *nodeState) isMember() bool { return !n.tagged && n.User != "" }

// involve records that rule ri involves n; rules are visited in order.
func (n *nodeState) involve(ri int) {
	if k := len(n.rules); k == 0 || n.rules[k-1] != int32(ri) {
		n.rules = append(n.rules, int32(ri))
	}
}

// crule is a rule with its current node sets.
type crule struct {
	*rule
	srcAny      bool
	srcLiterals []netip.Prefix
	// srcNodes holds nodes that may send under this rule: matched by an
	// identity alias, or with an address or route inside a src literal.
	srcNodes bitset
	// srcIdent holds nodes matched by an identity alias; their addresses
	// form the rule's source prefixes.
	srcIdent bitset
	dstNodes []bitset // per dst entry
	dstUnion bitset
	// src4 and src6 cache the source prefixes of each family, sorted
	// without repeats; valid when srcOK. Filters share them (views cut to
	// their length), so they are append-only: a node that joins appends
	// its addresses in place (they sort last when addresses are handed out
	// in order), every older view keeping its shorter length of the same
	// array; anything else makes a new array (see insertShared).
	src4, src6 []netip.Prefix
	srcOK      bool
	// seen4 and seen6 are how much of src4's and src6's arrays views
	// handed out cover: below them nothing may change, past them (up to
	// the length) an address may still be inserted in place (a batch of
	// registrations reaches the compiler out of address order).
	seen4, seen6 int
	// srcBoth caches src4 and src6 as one list, for a rule that does not
	// go out split by family (sourceLists); nil when stale.
	srcBoth []netip.Prefix
}

// Compile compiles rs against inv.
func Compile(rs *Ruleset, inv Inventory) (*Compiled, error) {
	c := &Compiled{rs: rs, byName: map[string]int32{}, userNodes: map[string]*bitset{}}
	for _, r := range rs.rules {
		c.rules = append(c.rules, newCrule(r))
	}
	// Insert in name order: node indexes then follow names, and name-sorted
	// lists need no reordering (see nameOrder).
	byName := make([]int, len(inv.Nodes))
	for i := range byName {
		byName[i] = i
	}
	slices.SortStableFunc(byName, func(a, b int) int { return strings.Compare(inv.Nodes[a].Name, inv.Nodes[b].Name) })
	for _, i := range byName {
		if _, err := c.insert(inv.Nodes[i]); err != nil {
			return nil, err
		}
	}
	c.matchAll()
	c.order.build(c.nodes)
	return c, nil
}

func newCrule(r rule) *crule {
	rc := r
	cr := &crule{rule: &rc, dstNodes: make([]bitset, len(r.dst))}
	for _, a := range r.src {
		switch a.kind {
		case kindAny:
			cr.srcAny = true
		case kindPrefix:
			cr.srcLiterals = append(cr.srcLiterals, a.prefix)
		}
	}
	return cr
}

// Ruleset returns the validated policy c was compiled from.
func (c *Compiled) Ruleset() *Ruleset { return c.rs }

// insert validates n and gives it an index, without matching rules.
func (c *Compiled) insert(n Node) (*nodeState, error) {
	if n.Name == "" {
		return nil, fmt.Errorf("%w: node has no name", ErrBadNode)
	}
	if _, dup := c.byName[n.Name]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateNode, n.Name)
	}
	if (n.IPv4.IsValid() && !n.IPv4.Is4()) || (n.IPv6.IsValid() && (!n.IPv6.Is6() || n.IPv6.Is4In6())) {
		return nil, fmt.Errorf("%w: node %s: ipv4 %v / ipv6 %v are of the wrong family", ErrBadNode, n.Name, n.IPv4, n.IPv6)
	}
	ns := &nodeState{Node: n, tagged: len(n.Tags) > 0, risk: c.rs.RiskOf(n.Risk)}
	ns.Tags, ns.Routes = slices.Clone(n.Tags), slices.Clone(n.Routes)
	for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
		if a.IsValid() {
			ns.own = append(ns.own, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for i, r := range n.Routes {
		if !r.IsValid() {
			return nil, fmt.Errorf("%w: node %s: bad route", ErrBadNode, n.Name)
		}
		ns.Routes[i] = r.Masked()
	}
	if len(c.free) > 0 {
		ns.idx = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
		c.nodes[ns.idx] = ns
	} else {
		ns.idx = int32(len(c.nodes))
		c.nodes = append(c.nodes, ns)
	}
	c.byName[n.Name] = ns.idx
	if !ns.tagged && n.User != "" {
		b := c.userNodes[n.User]
		if b == nil {
			b = &bitset{}
			c.userNodes[n.User] = b
		}
		b.set(ns.idx)
	}
	return ns, nil
}

// matchAll fills every rule's node sets from indexes: each distinct alias is
// resolved to a node set once.
func (c *Compiled) matchAll() {
	ix := c.newIndex()
	for _, cr := range c.rules {
		for _, a := range cr.src {
			s := ix.nodes(a)
			cr.srcNodes.or(s)
			if a.isIdentity() && a.kind != kindAny {
				cr.srcIdent.or(s)
			}
		}
		for i, e := range cr.dst {
			s := ix.nodes(e.alias)
			if len(cr.via) > 0 {
				s = c.viaNodes(cr.rule, e.alias, s)
			}
			cr.dstNodes[i].or(s)
			cr.dstUnion.or(s)
		}
		cr.srcOK, cr.srcBoth = false, nil
	}
	c.involveAll()
}

// involveAll fills every node's rules from the rules' node sets.
func (c *Compiled) involveAll() {
	for ri, cr := range c.rules {
		cr.srcNodes.each(func(i int32) { c.nodes[i].involve(ri) })
		cr.dstUnion.each(func(i int32) { c.nodes[i].involve(ri) })
		if cr.self {
			for _, n := range c.nodes {
				if n != nil && n.isMember() {
					n.involve(ri)
				}
			}
		}
	}
}

// matches reports whether alias a covers node n (autogroup:self and
// autogroup:internet cover no node by themselves).
func (c *Compiled) matches(a alias, n *nodeState) bool {
	switch a.kind {
	case kindAny:
		return true
	case kindUser:
		return !n.tagged && n.User == a.name
	case kindDomain:
		return !n.tagged && inDomain(n.User, a.name)
	case kindGroup:
		_, ok := slices.BinarySearch(c.rs.userGroups[n.User], a.name)
		return !n.tagged && n.User != "" && ok
	case kindTag:
		return n.tagged && slices.Contains(n.Tags, a.name)
	case kindMember:
		return !n.tagged && n.User != ""
	case kindTagged:
		return n.tagged
	case kindPrefix:
		return n.overlaps(a.prefix)
	case kindRisk:
		return n.risk == a.name
	}
	return false
}

// dstMatches reports whether destination alias a of rule r covers node
// n: for a grant with "via", only when n is one of its routers for a.
func (c *Compiled) dstMatches(r *rule, a alias, n *nodeState) bool {
	if len(r.via) > 0 {
		return viaCarries(r.via, a, n)
	}
	return c.matches(a, n)
}

// viaNodes returns the nodes of s that carry destination a for via rule r.
func (c *Compiled) viaNodes(r *rule, a alias, s bitset) bitset {
	var out bitset
	s.each(func(i int32) {
		if viaCarries(r.via, a, c.nodes[i]) {
			out.set(i)
		}
	})
	return out
}

// viaCarries reports whether n is one of the routers tags name for
// destination a: a node with one of tags serving an approved route that
// overlaps a. Nothing carries autogroup:internet (Ward has no exit nodes).
func viaCarries(tags []string, a alias, n *nodeState) bool {
	if a.kind != kindPrefix || !n.tagged || !slices.ContainsFunc(n.Tags, func(t string) bool { return slices.Contains(tags, t) }) {
		return false
	}
	return slices.ContainsFunc(n.Routes, a.prefix.Overlaps)
}

// overlaps reports whether p overlaps one of n's addresses or routes.
func (n *nodeState) overlaps(p netip.Prefix) bool {
	for _, q := range n.own {
		if p.Overlaps(q) {
			return true
		}
	}
	for _, q := range n.Routes {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// Node returns the node named name as it was added.
func (c *Compiled) Node(name string) (Node, bool) {
	i, ok := c.byName[name]
	if !ok {
		return Node{}, false
	}
	return c.nodes[i].Node, true
}

// NodeNames returns every node's name, sorted.
func (c *Compiled) NodeNames() []string {
	out := make([]string, 0, len(c.byName))
	for n := range c.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Result computes what the node named name receives.
func (c *Compiled) Result(name string) (NodeResult, error) {
	i, ok := c.byName[name]
	if !ok {
		return NodeResult{}, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	n := c.nodes[i]
	return NodeResult{Peers: c.peers(n), Filter: nil}.withFilter(c, n), nil
}

// Peers lists the peers of the node named name, sorted: Result's Peers,
// without computing its filter.
func (c *Compiled) Peers(name string) ([]string, error) {
	i, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	return c.peers(c.nodes[i]), nil
}

// Filter computes the inbound filter of the node named name: Result's
// Filter, without computing its peers.
func (c *Compiled) Filter(name string) ([]filter.Rule, error) {
	i, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	rules, _ := c.filter(c.nodes[i])
	return rules, nil
}

// All computes every node's result, keyed by name.
func (c *Compiled) All() map[string]NodeResult {
	out := make(map[string]NodeResult, len(c.byName))
	for name := range c.byName {
		out[name], _ = c.Result(name)
	}
	return out
}

func (r NodeResult) withFilter(c *Compiled, n *nodeState) NodeResult {
	r.Filter, r.Origins = c.filter(n)
	r.Caps = c.caps(n)
	return r
}

// IsPeer reports whether the node named b is among the peers of the node
// named a (Result(a).Peers holds b) without listing a's peers: a test of
// one bit per rule involving a, where Result builds every name. Unknown
// names are an error.
func (c *Compiled) IsPeer(a, b string) (bool, error) {
	ia, ok := c.byName[a]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownNode, a)
	}
	ib, ok := c.byName[b]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownNode, b)
	}
	if ia == ib {
		return false, nil
	}
	n := c.nodes[ia]
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.deny {
			continue // deny rules make no peers
		}
		if cr.dstUnion.has(ia) && cr.srcNodes.has(ib) || cr.srcNodes.has(ia) && cr.dstUnion.has(ib) {
			return true, nil
		}
		if s := c.selfSources(cr, n); !s.empty() && (s.has(ib) || s.has(ia) && c.userNodes[n.User].has(ib)) {
			return true, nil
		}
	}
	return false, nil
}
