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
	// autoRoutes are the resolved autoApprovers routes (AutoApproves).
	autoRoutes []autoRoute
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
	// via lists the router tags of a grant with "via": the rule applies
	// only on routers with one of these tags that serve an approved route
	// toward its destinations. Empty for other rules.
	via []string
	// caps are an "app" grant's capabilities: such a rule makes peers and
	// carries the capabilities, but grants no IP traffic. Nil for others.
	caps []AppCap
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
	for i, g := range p.Grants {
		r.grant(i, g)
	}
	r.tests(p.Tests)
	r.autoApprovers(p.AutoApprovers)
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
	r.sc = scope{groups: map[string]bool{}, tags: map[string]bool{}, hosts: map[string]netip.Prefix{}, cidrHosts: map[string]bool{}}
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
	if strings.Contains(h.Addr.S, "/") {
		r.sc.cidrHosts[n] = true
	}
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
	if a.Src != nil && len(a.Src) == 0 { // nil: missing, reported by Parse
		r.rep.errorf(a.Pos, "rule has an empty \"src\"")
	}
	ru := rule{pos: a.Pos, protos: protos, src: r.srcs(a.Src, "src"), deny: deny}
	for _, d := range a.Dst {
		host, ports, err := splitHostPort(d.S)
		if err != nil {
			r.rep.errorf(d.Pos, "%v", err)
			continue
		}
		if r.addDst(&ru, d, host, ports, "dst") && ru.dst[len(ru.dst)-1].alias.kind == kindSelf {
			for _, s := range ru.src {
				if !selfSource(s) && s.kind != kindAny {
					r.rep.errorf(d.Pos, "autogroup:self can only be used with users, groups, autogroup:member or * as src, not %q", s.text)
				}
			}
		}
	}
	if a.Dst != nil && len(a.Dst) == 0 { // nil: missing, reported by Parse
		r.rep.errorf(a.Pos, "acl has an empty \"dst\"")
	}
	r.finishRule(ru)
}

// selfSource reports whether a may be the source of a rule toward
// autogroup:self: it names users (a user, a domain of users, a group or
// autogroup:member). An acl also allows "*"; a grant does not, as in
// Tailscale.
func selfSource(a alias) bool {
	return a.kind == kindUser || a.kind == kindDomain || a.kind == kindGroup || a.kind == kindMember
}

// srcs resolves a rule's sources; what names the field in errors.
func (r *resolver) srcs(src []Str, what string) []alias {
	var out []alias
	for _, s := range src {
		a, err := r.sc.parseAlias(s.S, false)
		if err != nil {
			r.rep.errorf(s.Pos, "%s %v", what, err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// addDst resolves destination d ("host:ports") into ru and reports
// whether it was valid; what names the field in errors.
func (r *resolver) addDst(ru *rule, d Str, host, ports, what string) bool {
	a, err := r.sc.parseAlias(host, true)
	if err != nil {
		r.rep.errorf(d.Pos, "%s %v", what, err)
		return false
	}
	prs, err := parsePorts(ports)
	if err != nil {
		r.rep.errorf(d.Pos, "%s %q: %v", what, d.S, err)
		return false
	}
	if ports != "*" && !protosHavePorts(ru.protos) {
		r.rep.errorf(d.Pos, "%s %q: this protocol has no ports; use %s:*", what, d.S, host)
		return false
	}
	ru.self = ru.self || a.kind == kindSelf
	ru.dst = append(ru.dst, dstEntry{alias: a, ports: prs})
	return true
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

// grant resolves grant i: each "ip" entry ("*", "PORTS" for the default
// protocols, or "PROTO:PORTS") becomes one rule, and its "app"
// capabilities one more that grants no IP traffic. Errors name the grant
// by index and field ("grants[2].via[0]").
func (r *resolver) grant(i int, g Grant) {
	at := fmt.Sprintf("grants[%d]", i)
	deny := r.action(g.Action)
	approval, maxDur := r.approval(g, deny)
	// An empty "src" grants to nobody, as in Tailscale.
	src := r.srcs(g.Src, at+".src")
	via := r.via(at, g, deny, approval != "")
	dsts := r.grantDsts(at, g, src)
	if g.Dst != nil && len(g.Dst) == 0 {
		r.rep.errorf(g.Pos, "%s has an empty \"dst\"", at)
	}
	if g.IP != nil && len(g.IP) == 0 {
		r.rep.errorf(g.Pos, "%s has an empty \"ip\"", at)
	}
	for j, ip := range g.IP {
		where := fmt.Sprintf("%s.ip[%d]", at, j)
		protoText, portText, hasProto := strings.Cut(ip.S, ":")
		if !hasProto {
			protoText, portText = "", ip.S
		}
		protos, err := parseProto(protoText)
		if err == nil && hasProto && protoText == "" {
			err = fmt.Errorf("empty protocol in %q", ip.S)
		}
		if err != nil {
			r.rep.errorf(ip.Pos, "%s %v", where, err)
			continue
		}
		if prs, err := parsePorts(portText); err == nil && portText != "*" && slices.ContainsFunc(prs, func(p filter.PortRange) bool { return p.First == 0 }) {
			r.rep.errorf(ip.Pos, "%s %q: ports start at 1; use \"*\" for every port", where, ip.S)
			continue
		}
		ru := rule{pos: g.Pos, protos: protos, src: src, deny: deny, approval: approval, maxDuration: maxDur, via: via}
		for _, d := range dsts {
			r.addDst(&ru, Str{S: d.S + ":" + portText, Pos: ip.Pos}, d.S, portText, where)
		}
		r.finishRule(ru)
	}
	r.appRule(at, g, src, dsts, via, deny || approval != "")
}

// appRule adds the rule of grant g's "app" capabilities, if any: it makes
// the grant's sources and destinations peers and carries the capabilities
// to the destinations, but grants no IP traffic.
func (r *resolver) appRule(at string, g Grant, src []alias, dsts []Str, via []string, denyOrApproval bool) {
	if len(g.App) == 0 {
		return
	}
	if denyOrApproval {
		r.rep.errorf(g.App[0].Name.Pos, "%s.app: a deny grant or one that needs approval cannot carry \"app\" capabilities", at)
		return
	}
	ok := true
	for j, cp := range g.App {
		domain, path, _ := strings.Cut(cp.Name.S, "/")
		if path == "" || !strings.Contains(domain, ".") || !isName(domain) {
			r.rep.errorf(cp.Name.Pos, "%s.app[%d] %q: a capability name has the form {domain}/{path}, like example.com/cap/drive", at, j, cp.Name.S)
			ok = false
		}
	}
	for j, d := range g.Dst {
		if d.S == "autogroup:internet" {
			r.rep.errorf(d.Pos, "%s.dst[%d]: a grant with \"app\" cannot target autogroup:internet", at, j)
			ok = false
		}
	}
	if !ok {
		return
	}
	ru := rule{pos: g.Pos, src: src, via: via, caps: g.App}
	for _, d := range dsts {
		r.addDst(&ru, Str{S: d.S + ":*", Pos: d.Pos}, d.S, "*", at+".dst")
	}
	r.finishRule(ru)
}

// via validates grant g's "via": tags of routers, on an accept grant that
// needs no approval. It returns the tags.
func (r *resolver) via(at string, g Grant, deny, approval bool) []string {
	if len(g.Via) == 0 {
		return nil // absent, [] or null: any router, as in Tailscale
	}
	if deny || approval {
		r.rep.errorf(g.Pos, "%s.via: a deny grant or one that needs approval cannot have \"via\"", at)
	}
	var out []string
	for j, v := range g.Via {
		if !strings.HasPrefix(v.S, "tag:") || !r.sc.tags[v.S] {
			r.rep.errorf(v.Pos, "%s.via[%d] %q: via names the tags of routers (a tag:name with an entry in \"tagOwners\")", at, j, v.S)
			continue
		}
		out = append(out, v.S)
	}
	return dedupSorted(out)
}

// grantDsts validates grant g's destinations as Tailscale does and
// returns the valid ones.
func (r *resolver) grantDsts(at string, g Grant, src []alias) []Str {
	var dsts []Str
	for j, d := range g.Dst {
		where := fmt.Sprintf("%s.dst[%d]", at, j)
		a, err := r.sc.parseAlias(d.S, true)
		if err != nil {
			r.rep.errorf(d.Pos, "%s %v", where, err)
			continue
		}
		switch {
		case a.kind == kindPrefix && a.prefix.Bits() == 0 && a.text == a.prefix.String():
			r.rep.errorf(d.Pos, "%s %q: to allow all IP addresses, use \"*\" or \"autogroup:internet\"", where, d.S)
			continue
		case len(g.Via) > 0 && a.kind != kindPrefix && a.kind != kindInternet:
			r.rep.errorf(d.Pos, "%s %q: a grant with \"via\" reaches addresses behind routers: use an IP, a CIDR, a hosts name or autogroup:internet", where, d.S)
			continue
		case a.kind == kindSelf:
			for _, s := range src {
				if k := slices.IndexFunc(g.Src, func(t Str) bool { return t.S == s.text }); !selfSource(s) {
					r.rep.errorf(g.Src[k].Pos, "%s.src[%d] %q: a grant to autogroup:self can only come from users, groups or autogroup:member", at, k, s.text)
				}
			}
		}
		dsts = append(dsts, d)
	}
	return dsts
}

func dedupSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// HasTag reports whether tag has a tagOwners entry.
func (rs *Ruleset) HasTag(tag string) bool { return rs.tags[tag] }
