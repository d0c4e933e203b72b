package acl

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"

	"github.com/tailscale/hujson"
)

// MaxPolicySize is the largest policy file Parse accepts.
const MaxPolicySize = 4 << 20

// Str is a string from the policy with the position of its opening quote.
type Str struct {
	S   string
	Pos Pos
}

// Policy is a parsed policy file. Parse checks its syntax and shape; Check
// validates its meaning.
type Policy struct {
	// File is the name used in error messages.
	File string
	// Groups maps group:name to its members, in file order.
	Groups []Group
	// TagOwners lists tag:name and who may apply it, in file order.
	TagOwners []TagOwner
	// Hosts lists named addresses, in file order.
	Hosts []Host
	// ACLs are the rules ("accept" or "deny"), in file order.
	ACLs []ACL
	// Grants are Tailscale-style grants (the "ip" subset), in file order.
	Grants []Grant
	// Tests are the policy's own assertions.
	Tests []Test
	// RiskClasses are the device risk classes, most critical first; empty
	// for DefaultRiskClasses.
	RiskClasses []RiskClassDef
	// AutoApprovers are "autoApprovers"."routes", in file order: who may
	// advertise which subnet routes without an admin's approval.
	AutoApprovers []AutoApprover
	// Ignored lists top-level keys Tailscale defines that Ward accepts but
	// does not act on (for example ssh, nodeAttrs).
	Ignored []Str

	rep *reporter
}

// Group is one entry of "groups".
type Group struct {
	Name    Str
	Members []Str
}

// GroupsOf returns the names of p's groups that list email, in file
// order: the policy groups an admin's role and the users page read.
// Emails match exactly, as the compiler matches them; a nil p or an empty
// email has none.
func (p *Policy) GroupsOf(email string) []string {
	if p == nil || email == "" {
		return nil
	}
	var out []string
	for _, g := range p.Groups {
		if slices.ContainsFunc(g.Members, func(m Str) bool { return m.S == email }) {
			out = append(out, g.Name.S)
		}
	}
	return out
}

// TagOwner is one entry of "tagOwners".
type TagOwner struct {
	Tag    Str
	Owners []Str
}

// Host is one entry of "hosts".
type Host struct {
	Name Str
	Addr Str
}

// ACL is one entry of "acls".
type ACL struct {
	Pos    Pos
	Action Str
	Src    []Str
	Dst    []Str
	// Proto is empty when absent.
	Proto Str
}

// Grant is one entry of "grants": network access ("ip"), application
// capabilities ("app"), or both, optionally routed through tagged routers
// ("via").
type Grant struct {
	Pos Pos
	// Action is "accept" or "deny" (a Ward extension); empty when absent,
	// which means accept.
	Action Str
	Src    []Str
	Dst    []Str
	IP     []Str
	// Via lists the tags of the routers the grant's traffic must go
	// through (Tailscale's "via"); empty when absent, [] or null, which
	// all mean any router.
	Via []Str
	// App lists the application capabilities the grant carries, in file
	// order; empty when absent. They grant no IP traffic.
	App []AppCap
	// Approval (a Ward extension) makes the grant just-in-time: it grants
	// nothing by itself, but lets its sources request its access for a
	// while, which a member of this group approves. Empty when absent.
	Approval Str
	// MaxDuration caps a request under an approval grant ("2h"); empty
	// when absent.
	MaxDuration Str
}

// AppCap is one capability of a grant's "app": its name
// ("example.com/cap/drive") and its parameter objects as standard JSON.
type AppCap struct {
	Name   Str
	Values []json.RawMessage
}

// Test is one entry of "tests".
type Test struct {
	Pos    Pos
	Src    Str
	Proto  Str
	Accept []Str
	Deny   []Str
	// HasAccept and HasDeny tell whether the keys were present.
	HasAccept, HasDeny bool
	// Approved judges the test as if every request the policy's approval
	// grants let Src make had been approved ("approved": true).
	Approved bool
}

// ignoredKeys are top-level keys of Tailscale's policy format that Ward
// accepts without acting on them, so admins can bring their file as is.
var ignoredKeys = map[string]bool{
	"ssh": true, "nodeAttrs": true, "derpMap": true,
	"disableIPv4": true, "randomizeClientPort": true, "postures": true,
	"defaultSrcPosture": true, "OneCGNATRoute": true, "attrConfig": true,
	"sshTests": true, "ipsets": true,
}

var syntaxErrRE = regexp.MustCompile(`^hujson: line (\d+), column (\d+): (.*)$`)

// Parse parses policy text (HuJSON: JSON with comments and trailing commas).
// file names the source in error messages. It reports every problem of
// syntax and shape at once as an ErrorList; it does not resolve references
// (Resolve and Check do). When the text is valid HuJSON but has shape
// problems, Parse returns the policy it could read along with the error, so
// that Check can report the remaining problems too.
func Parse(file string, src []byte) (*Policy, error) {
	rep := newReporter(file, src)
	p := &Policy{File: file, rep: rep}
	if len(src) > MaxPolicySize {
		rep.errorf(Pos{1, 1}, "policy is %d bytes; the limit is %d", len(src), MaxPolicySize)
		return nil, rep.err()
	}
	v, err := hujson.Parse(src)
	if err != nil {
		pos, msg := Pos{1, 1}, err.Error()
		if m := syntaxErrRE.FindStringSubmatch(msg); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
			pos.Col, _ = strconv.Atoi(m[2])
			msg = m[3]
		}
		rep.errorf(pos, "syntax error: %s", msg)
		return nil, rep.err()
	}
	d := decoder{rep: rep}
	d.policy(p, &v)
	return p, rep.err()
}

// decoder walks the HuJSON tree, reporting shape errors as it goes.
type decoder struct{ rep *reporter }

func (d *decoder) pos(v *hujson.Value) Pos { return d.rep.pos(v.StartOffset) }

func kindName(v *hujson.Value) string {
	switch v.Value.Kind() {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	}
	return "null"
}

// object returns the members of an object, reporting duplicates. It returns
// nil (after reporting) when v is not an object.
func (d *decoder) object(v *hujson.Value, what string) []hujson.ObjectMember {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.rep.errorf(d.pos(v), "%s must be an object, not %s", what, kindName(v))
		return nil
	}
	seen := map[string]Pos{}
	out := obj.Members[:0:0]
	for _, m := range obj.Members {
		name := m.Name.Value.(hujson.Literal).String()
		if first, dup := seen[name]; dup {
			d.rep.errorf(d.pos(&m.Name), "duplicate key %q in %s (first at %s)", name, what, first)
			continue
		}
		seen[name] = d.pos(&m.Name)
		out = append(out, m)
	}
	return out
}

func (d *decoder) str(v *hujson.Value, what string) (Str, bool) {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '"' {
		d.rep.errorf(d.pos(v), "%s must be a string, not %s", what, kindName(v))
		return Str{}, false
	}
	return Str{S: lit.String(), Pos: d.pos(v)}, true
}

func (d *decoder) boolean(v *hujson.Value, what string) bool {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || (lit.Kind() != 't' && lit.Kind() != 'f') {
		d.rep.errorf(d.pos(v), "%s must be true or false, not %s", what, kindName(v))
		return false
	}
	return lit.Bool()
}

func (d *decoder) strList(v *hujson.Value, what string) []Str {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		d.rep.errorf(d.pos(v), "%s must be a list of strings, not %s", what, kindName(v))
		return nil
	}
	out := make([]Str, 0, len(arr.Elements))
	for i := range arr.Elements {
		if s, ok := d.str(&arr.Elements[i], what+" entry"); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) name(m *hujson.ObjectMember) Str {
	return Str{S: m.Name.Value.(hujson.Literal).String(), Pos: d.pos(&m.Name)}
}

func (d *decoder) policy(p *Policy, v *hujson.Value) {
	for _, m := range d.object(v, "the policy") {
		key := d.name(&m)
		val := &m.Value
		switch key.S {
		case "groups":
			d.groups(p, val)
		case "tagOwners":
			d.tagOwners(p, val)
		case "hosts":
			d.hosts(p, val)
		case "acls":
			d.each(val, "acls", func(e *hujson.Value) { d.acl(p, e) })
		case "grants":
			d.each(val, "grants", func(e *hujson.Value) { d.grant(p, e) })
		case "tests":
			d.each(val, "tests", func(e *hujson.Value) { d.test(p, e) })
		case "riskClasses":
			d.riskClasses(p, val)
		case "autoApprovers":
			d.autoApprovers(p, val)
		default:
			if ignoredKeys[key.S] {
				p.Ignored = append(p.Ignored, key)
				continue
			}
			d.rep.errorf(key.Pos, "unknown top-level key %q (known: groups, tagOwners, hosts, acls, grants, tests, riskClasses)", key.S)
		}
	}
}

func (d *decoder) each(v *hujson.Value, what string, f func(*hujson.Value)) {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		d.rep.errorf(d.pos(v), "%q must be a list, not %s", what, kindName(v))
		return
	}
	for i := range arr.Elements {
		f(&arr.Elements[i])
	}
}

func (d *decoder) groups(p *Policy, v *hujson.Value) {
	for _, m := range d.object(v, `"groups"`) {
		g := Group{Name: d.name(&m)}
		g.Members = d.strList(&m.Value, "group "+g.Name.S)
		p.Groups = append(p.Groups, g)
	}
}

func (d *decoder) tagOwners(p *Policy, v *hujson.Value) {
	for _, m := range d.object(v, `"tagOwners"`) {
		t := TagOwner{Tag: d.name(&m)}
		t.Owners = d.strList(&m.Value, "owners of "+t.Tag.S)
		p.TagOwners = append(p.TagOwners, t)
	}
}

func (d *decoder) hosts(p *Policy, v *hujson.Value) {
	for _, m := range d.object(v, `"hosts"`) {
		h := Host{Name: d.name(&m)}
		if s, ok := d.str(&m.Value, "host "+h.Name.S); ok {
			h.Addr = s
			p.Hosts = append(p.Hosts, h)
		}
	}
}

func (d *decoder) acl(p *Policy, v *hujson.Value) {
	a := ACL{Pos: d.pos(v)}
	var hasSrc, hasDst, hasAction bool
	for _, m := range d.object(v, "an acl") {
		key := d.name(&m)
		switch key.S {
		case "action":
			a.Action, hasAction = d.str(&m.Value, `"action"`)
		case "src":
			a.Src, hasSrc = d.strList(&m.Value, `"src"`), true
		case "dst":
			a.Dst, hasDst = d.strList(&m.Value, `"dst"`), true
		case "proto":
			a.Proto, _ = d.str(&m.Value, `"proto"`)
		default:
			d.rep.errorf(key.Pos, "unknown key %q in an acl (known: action, src, dst, proto)", key.S)
		}
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return
	}
	d.require(a.Pos, "acl", map[string]bool{"action": hasAction, "src": hasSrc, "dst": hasDst})
	p.ACLs = append(p.ACLs, a)
}

func (d *decoder) require(at Pos, what string, present map[string]bool) {
	for _, k := range []string{"action", "src", "dst", "ip"} {
		if has, known := present[k]; known && !has {
			d.rep.errorf(at, "%s is missing %q", what, k)
		}
	}
}

func (d *decoder) grant(p *Policy, v *hujson.Value) {
	g := Grant{Pos: d.pos(v)}
	var hasSrc, hasDst, hasIP, hasApp bool
	for _, m := range d.object(v, "a grant") {
		key := d.name(&m)
		switch key.S {
		case "action":
			g.Action, _ = d.str(&m.Value, `"action"`)
		case "approval":
			g.Approval, _ = d.str(&m.Value, `"approval"`)
		case "maxDuration":
			g.MaxDuration, _ = d.str(&m.Value, `"maxDuration"`)
		case "src":
			g.Src, hasSrc = d.strList(&m.Value, `"src"`), true
		case "dst":
			g.Dst, hasDst = d.strList(&m.Value, `"dst"`), true
		case "ip":
			g.IP, hasIP = d.strList(&m.Value, `"ip"`), true
		case "via":
			// [] and null mean no via, as in Tailscale.
			if lit, ok := m.Value.Value.(hujson.Literal); !ok || lit.Kind() != 'n' {
				g.Via = d.strList(&m.Value, `"via"`)
			}
		case "app":
			g.App, hasApp = d.app(&m.Value), true
		case "srcPosture":
			d.rep.errorf(key.Pos, "grants with \"srcPosture\" are not supported by Ward: it has no device posture")
		default:
			d.rep.errorf(key.Pos, "unknown key %q in a grant (known: action, src, dst, ip, app, via, approval, maxDuration)", key.S)
		}
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return
	}
	d.require(g.Pos, "grant", map[string]bool{"src": hasSrc, "dst": hasDst})
	if !hasIP && !hasApp {
		d.rep.errorf(g.Pos, "grant has neither \"ip\" nor \"app\"")
	}
	p.Grants = append(p.Grants, g)
}

// app reads a grant's "app": capability names mapped to lists of
// parameter objects, as Tailscale writes them.
func (d *decoder) app(v *hujson.Value) []AppCap {
	var out []AppCap
	for _, m := range d.object(v, `"app"`) {
		c := AppCap{Name: d.name(&m)}
		if c.Name.S == "" {
			d.rep.errorf(c.Name.Pos, "\"app\" has an empty capability name")
			continue
		}
		arr, ok := m.Value.Value.(*hujson.Array)
		if !ok {
			d.rep.errorf(d.pos(&m.Value), "capability %s must be a list of objects, not %s", c.Name.S, kindName(&m.Value))
			continue
		}
		for i := range arr.Elements {
			e := &arr.Elements[i]
			if _, ok := e.Value.(*hujson.Object); !ok {
				d.rep.errorf(d.pos(e), "capability %s entry must be an object, not %s", c.Name.S, kindName(e))
				continue
			}
			std := e.Clone()
			std.Standardize()
			var buf bytes.Buffer
			_ = json.Compact(&buf, std.Pack()) // standard JSON: cannot fail
			c.Values = append(c.Values, json.RawMessage(buf.Bytes()))
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) test(p *Policy, v *hujson.Value) {
	t := Test{Pos: d.pos(v)}
	var hasSrc bool
	for _, m := range d.object(v, "a test") {
		key := d.name(&m)
		switch key.S {
		case "src":
			t.Src, hasSrc = d.str(&m.Value, `"src"`)
		case "proto":
			t.Proto, _ = d.str(&m.Value, `"proto"`)
		case "accept":
			t.Accept, t.HasAccept = d.strList(&m.Value, `"accept"`), true
		case "deny":
			t.Deny, t.HasDeny = d.strList(&m.Value, `"deny"`), true
		case "approved":
			t.Approved = d.boolean(&m.Value, `"approved"`)
		default:
			d.rep.errorf(key.Pos, "unknown key %q in a test (known: src, proto, accept, deny, approved)", key.S)
		}
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return
	}
	if !hasSrc {
		d.rep.errorf(t.Pos, "test is missing \"src\"")
	}
	if !t.HasAccept && !t.HasDeny {
		d.rep.errorf(t.Pos, "test has neither \"accept\" nor \"deny\"")
	}
	p.Tests = append(p.Tests, t)
}
