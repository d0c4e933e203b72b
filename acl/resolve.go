package acl

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/filter"
)

// Options are inputs to validation that do not come from the policy file.
type Options struct {
	// ExternalGroups maps group:name to members supplied by the identity
	// provider (users' groups claims). They are merged with the file's own
	// groups, and referencing one that the file does not define is allowed.
	ExternalGroups map[string][]string
}

// Ruleset is a validated policy: every alias resolved, every port and
// protocol parsed. It is immutable and safe to share.
type Ruleset struct {
	policy *Policy
	rules  []rule
	// groups maps group:name to its members (file and external), sorted.
	groups map[string][]string
	// userGroups maps an email to the groups it belongs to, sorted.
	userGroups map[string][]string
	hosts      map[string]netip.Prefix
	tags       map[string]bool
	tests      []testCase
	// risks are the risk classes, most critical first; never empty.
	risks []RiskClass
	// requestable are the rules of approval grants: what people may
	// request for a while (see Requestable); they grant nothing alone.
	requestable []rule
}

// rule is one rule (an acl, or one "ip" entry of a grant).
type rule struct {
	pos    Pos
	src    []alias
	dst    []dstEntry
	protos []filter.Proto // nil = defaults
	// self is set when some dst entry is autogroup:self.
	self bool
	// deny is set for a deny rule: it refuses what it matches, ahead of
	// every accept, and makes no peers.
	deny bool
	// approval and maxDuration are an approval grant's (see Requestable);
	// empty and zero for other rules.
	approval    string
	maxDuration time.Duration
	// expires is when a time-bound rule (an approved request) ends; zero
	// for others.
	expires time.Time
}

type dstEntry struct {
	alias alias
	ports []filter.PortRange
}

// Policy returns the parsed policy the ruleset was built from.
func (rs *Ruleset) Policy() *Policy { return rs.policy }

// Resolve validates p and resolves every reference. All problems are
// reported at once as an ErrorList; a policy with any problem yields no
// Ruleset. It does not run the policy's tests (see Check).
func Resolve(p *Policy, opts Options) (*Ruleset, error) {
	// A reporter of its own: Parse's problems stay Parse's to report, so
	// Check, which merges both, lists each problem once.
	r := &resolver{rep: newReporter(p.File, nil), rs: &Ruleset{policy: p}}
	if p.rep != nil {
		r.rep.lines = p.rep.lines
	}
	r.definitions(p, opts)
	for _, a := range p.ACLs {
		r.acl(a)
	}
	for _, g := range p.Grants {
		r.grant(g)
	}
	r.tests(p.Tests)
	if err := r.rep.err(); err != nil {
		return nil, err
	}
	return r.rs, nil
}

type resolver struct {
	rep *reporter
	rs  *Ruleset
	sc  scope
}

func (r *resolver) definitions(p *Policy, opts Options) {
	r.sc = scope{groups: map[string]bool{}, tags: map[string]bool{}, hosts: map[string]netip.Prefix{}}
	members := map[string][]string{}
	for name, ms := range opts.ExternalGroups {
		if !strings.HasPrefix(name, "group:") {
			name = "group:" + name // an IdP group "ops" is group:ops
		}
		r.sc.groups[name] = true
		members[name] = append(members[name], ms...)
	}
	for _, g := range p.Groups {
		r.group(g, members)
	}
	for _, t := range p.TagOwners {
		if !strings.HasPrefix(t.Tag.S, "tag:") || len(t.Tag.S) == len("tag:") {
			r.rep.errorf(t.Tag.Pos, "tagOwners key %q must look like tag:name", t.Tag.S)
			continue
		}
		r.sc.tags[t.Tag.S] = true
	}
	for _, t := range p.TagOwners {
		r.tagOwners(t)
	}
	for _, h := range p.Hosts {
		r.host(h)
	}
	r.riskClasses(p.RiskClasses)
	r.rs.hosts, r.rs.tags = r.sc.hosts, r.sc.tags
	r.rs.groups = map[string][]string{}
	r.rs.userGroups = map[string][]string{}
	for name, ms := range members {
		ms = dedupSorted(ms)
		r.rs.groups[name] = ms
		for _, m := range ms {
			r.rs.userGroups[m] = append(r.rs.userGroups[m], name)
		}
	}
	for u, gs := range r.rs.userGroups {
		r.rs.userGroups[u] = dedupSorted(gs)
	}
}

func (r *resolver) group(g Group, members map[string][]string) {
	if !strings.HasPrefix(g.Name.S, "group:") || len(g.Name.S) == len("group:") {
		r.rep.errorf(g.Name.Pos, "groups key %q must look like group:name", g.Name.S)
		return
	}
	r.sc.groups[g.Name.S] = true
	if _, ok := members[g.Name.S]; !ok {
		members[g.Name.S] = []string{}
	}
	for _, m := range g.Members {
		switch {
		case strings.HasPrefix(m.S, "group:"):
			r.rep.errorf(m.Pos, "%s contains %s: nested groups are not allowed; list its users instead", g.Name.S, m.S)
		case strings.HasPrefix(m.S, "tag:") || strings.HasPrefix(m.S, "autogroup:"):
			r.rep.errorf(m.Pos, "%s contains %s: a group may only contain users", g.Name.S, m.S)
		default:
			if err := checkUser(m.S); err != nil || !strings.Contains(m.S, "@") {
				r.rep.errorf(m.Pos, "%s contains %q: expected a user like name@example.com", g.Name.S, m.S)
				continue
			}
			members[g.Name.S] = append(members[g.Name.S], m.S)
		}
	}
}

func (r *resolver) tagOwners(t TagOwner) {
	for _, o := range t.Owners {
		switch {
		case o.S == "autogroup:admin" || o.S == "autogroup:member":
		case strings.HasPrefix(o.S, "group:") && !r.sc.groups[o.S]:
			r.rep.errorf(o.Pos, "owner of %s: group %q is not defined", t.Tag.S, o.S)
		case strings.HasPrefix(o.S, "tag:") && !r.sc.tags[o.S]:
			r.rep.errorf(o.Pos, "owner of %s: tag %q has no entry in \"tagOwners\"", t.Tag.S, o.S)
		case strings.HasPrefix(o.S, "group:") || strings.HasPrefix(o.S, "tag:"):
		case checkUser(o.S) != nil || !strings.Contains(o.S, "@"):
			r.rep.errorf(o.Pos, "owner of %s: %q is not a user, group: or tag:", t.Tag.S, o.S)
		}
	}
}

func (r *resolver) host(h Host) {
	n := h.Name.S
	if !isName(n) || strings.Contains(n, "@") {
		r.rep.errorf(h.Name.Pos, "host name %q may only use letters, digits, '-', '_' and '.'", n)
		return
	}
	if _, err := netip.ParseAddr(n); err == nil {
		r.rep.errorf(h.Name.Pos, "host name %q is an IP address; use the address directly", n)
		return
	}
	p, err := parsePrefix(h.Addr.S)
	if err != nil {
		r.rep.errorf(h.Addr.Pos, "host %s: %v", n, err)
		return
	}
	r.sc.hosts[n] = p
}

// action reports whether a rule's action is "deny", reporting anything but
// "accept" and "deny". A missing action (zero position) is accept for a
// grant, and was reported by Parse for an acl.
func (r *resolver) action(a Str) bool {
	if a.S != "accept" && a.S != "deny" && a.Pos != (Pos{}) {
		r.rep.errorf(a.Pos, "action %q is not supported: use \"accept\", or \"deny\" to refuse what accepts allow", a.S)
	}
	return a.S == "deny"
}

func (r *resolver) acl(a ACL) {
	deny := r.action(a.Action)
	protos, err := parseProto(a.Proto.S)
	if err != nil {
		r.rep.errorf(a.Proto.Pos, "%v", err)
	}
	ru := rule{pos: a.Pos, protos: protos, src: r.srcs(a.Src, a.Pos), deny: deny}
	for _, d := range a.Dst {
		host, ports, err := splitHostPort(d.S)
		if err != nil {
			r.rep.errorf(d.Pos, "%v", err)
			continue
		}
		r.addDst(&ru, d, host, ports)
	}
	if a.Dst != nil && len(a.Dst) == 0 { // nil: missing, reported by Parse
		r.rep.errorf(a.Pos, "acl has an empty \"dst\"")
	}
	r.finishRule(ru)
}

func (r *resolver) srcs(src []Str, at Pos) []alias {
	if src != nil && len(src) == 0 { // nil: missing, reported by Parse
		r.rep.errorf(at, "rule has an empty \"src\"")
	}
	var out []alias
	for _, s := range src {
		a, err := r.sc.parseAlias(s.S, false)
		if err != nil {
			r.rep.errorf(s.Pos, "src %v", err)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (r *resolver) addDst(ru *rule, d Str, host, ports string) {
	a, err := r.sc.parseAlias(host, true)
	if err != nil {
		r.rep.errorf(d.Pos, "dst %v", err)
		return
	}
	prs, err := parsePorts(ports)
	if err != nil {
		r.rep.errorf(d.Pos, "dst %q: %v", d.S, err)
		return
	}
	if ports != "*" && !protosHavePorts(ru.protos) {
		r.rep.errorf(d.Pos, "dst %q: this protocol has no ports; use %s:*", d.S, host)
		return
	}
	if a.kind == kindSelf {
		ru.self = true
		for _, s := range ru.src {
			if s.kind != kindUser && s.kind != kindGroup && s.kind != kindMember && s.kind != kindAny {
				r.rep.errorf(d.Pos, "autogroup:self can only be used with users, groups, autogroup:member or * as src, not %q", s.text)
			}
		}
	}
	ru.dst = append(ru.dst, dstEntry{alias: a, ports: prs})
}

func (r *resolver) finishRule(ru rule) {
	if ru.deny && ru.protos == nil && namesPorts(ru.dst) {
		// "deny *:23" means telnet, not every ping: ICMP has no ports,
		// so a deny naming ports refuses only the protocols that have them.
		ru.protos = []filter.Proto{filter.ProtoTCP, filter.ProtoUDP}
	}
	switch {
	case len(ru.src) == 0 || len(ru.dst) == 0:
	case ru.approval != "":
		r.rs.requestable = append(r.rs.requestable, ru)
	default:
		r.rs.rules = append(r.rs.rules, ru)
	}
}

// approval validates a grant's "approval" and "maxDuration".
func (r *resolver) approval(g Grant, deny bool) (string, time.Duration) {
	var d time.Duration
	if g.MaxDuration.Pos != (Pos{}) {
		v, err := time.ParseDuration(g.MaxDuration.S)
		if err != nil || v <= 0 {
			r.rep.errorf(g.MaxDuration.Pos, "maxDuration %q is not a positive duration like \"2h\"", g.MaxDuration.S)
		}
		if g.Approval.Pos == (Pos{}) {
			r.rep.errorf(g.MaxDuration.Pos, "maxDuration applies to a grant with \"approval\"")
		}
		d = v
	}
	if g.Approval.Pos == (Pos{}) {
		return "", 0
	}
	switch {
	case deny:
		r.rep.errorf(g.Approval.Pos, "a deny grant cannot need approval")
	case !strings.HasPrefix(g.Approval.S, "group:") || !r.sc.groups[g.Approval.S]:
		r.rep.errorf(g.Approval.Pos, "approval %q must be a group defined in \"groups\" (or by the identity provider)", g.Approval.S)
	}
	return g.Approval.S, d
}

// namesPorts reports whether some destination restricts ports.
func namesPorts(dst []dstEntry) bool {
	for _, e := range dst {
		if !slices.Equal(e.ports, []filter.PortRange{filter.AllPorts()}) {
			return true
		}
	}
	return false
}

// grant resolves a grant's "ip" entries: "*", "PORTS" (default protocols)
// or "PROTO:PORTS". Each entry becomes one rule.
func (r *resolver) grant(g Grant) {
	deny := r.action(g.Action)
	approval, maxDur := r.approval(g, deny)
	src := r.srcs(g.Src, g.Pos)
	var dsts []Str
	for _, d := range g.Dst {
		if _, err := r.sc.parseAlias(d.S, true); err != nil {
			r.rep.errorf(d.Pos, "dst %v", err)
			continue
		}
		dsts = append(dsts, d)
	}
	if g.Dst != nil && len(g.Dst) == 0 {
		r.rep.errorf(g.Pos, "grant has an empty \"dst\"")
	}
	if g.IP != nil && len(g.IP) == 0 {
		r.rep.errorf(g.Pos, "grant has an empty \"ip\"")
	}
	for _, ip := range g.IP {
		protoText, portText, hasProto := strings.Cut(ip.S, ":")
		if !hasProto {
			protoText, portText = "", ip.S
		}
		protos, err := parseProto(protoText)
		if err == nil && hasProto && protoText == "" {
			err = fmt.Errorf("empty protocol in %q", ip.S)
		}
		if err != nil {
			r.rep.errorf(ip.Pos, "ip %v", err)
			continue
		}
		ru := rule{pos: g.Pos, protos: protos, src: src, deny: deny, approval: approval, maxDuration: maxDur}
		for _, d := range dsts {
			r.addDst(&ru, Str{S: d.S + ":" + portText, Pos: ip.Pos}, d.S, portText)
		}
		r.finishRule(ru)
	}
}

func dedupSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// HasTag reports whether tag has a tagOwners entry.
func (rs *Ruleset) HasTag(tag string) bool { return rs.tags[tag] }
