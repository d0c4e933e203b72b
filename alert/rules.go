// Package alert is what Ward's alerts are made of: the rules file admins
// write (HuJSON, checked with line:col problems), and the destinations
// that deliver each alert with retries: HMAC-signed JSON webhooks,
// Slack-compatible hooks, syslog (RFC 5424 over TCP or TLS) and e-mail.
// The coordinator evaluates the rules (package coordinator); this package
// knows nothing of nodes or the store.
package alert

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// Kinds of rule.
const (
	// KindOffline fires when a device has been offline longer than For.
	KindOffline = "device_offline"
	// KindDenied fires when one identity has Count denied flows within
	// Within (counting each flow record's attempts).
	KindDenied = "denied_flows"
	// KindKeyExpiring fires when a device's key expires within Within,
	// and resolves when the key is renewed or the device removed.
	KindKeyExpiring = "key_expiring"
	// KindJoined fires once for each device that joins (Tags limit it).
	KindJoined = "device_joined"
	// KindPolicyChange fires once for each change of the policy, a
	// device's tags or risk class, or an API key.
	KindPolicyChange = "policy_change"
	// KindAdminLogin fires once for each admin UI login.
	KindAdminLogin = "admin_login"
	// KindRolloutPaused fires when a rollout pauses (a gate tripped, or
	// an admin paused it) and resolves when it resumes or is aborted.
	KindRolloutPaused = "rollout_paused"
	// KindLogMatch fires once for each line of a watched log file that
	// matched its expression on a device (see Watch; Tags limit it).
	KindLogMatch = "log_match"
	// KindFileChanged fires once for each watched file a device found
	// added, removed, modified or unreadable (see Watch; Tags limit it).
	KindFileChanged = "file_changed"
	// KindAccessRequest fires once for each just-in-time access request
	// made, approved, denied or revoked on a device whose risk class sets
	// an alertSeverity (Tags limit it).
	KindAccessRequest = "access_request"
)

// kinds are the known kinds, in the order the parser names them.
var kinds = []string{KindOffline, KindDenied, KindKeyExpiring, KindJoined, KindPolicyChange, KindAdminLogin, KindRolloutPaused,
	KindLogMatch, KindFileChanged, KindAccessRequest, KindTrafficAnomaly, KindNewPeerOrPort}

// Event reports whether kind fires once per event, without a recovery.
func Event(kind string) bool {
	return slices.Contains([]string{KindJoined, KindPolicyChange, KindAdminLogin, KindLogMatch, KindFileChanged, KindAccessRequest, KindNewPeerOrPort}, kind)
}

// MaxRulesSize bounds a rules file.
const MaxRulesSize = 256 << 10

// Rules is a parsed rules file.
type Rules struct {
	// Destinations are the destinations by name ("webhooks" and
	// "destinations" of the file).
	Destinations map[string]Destination
	// Rules are the alert rules in file order.
	Rules []Rule
	// Watch says what devices watch on their own disks, in file order.
	Watch []Watch
	// Route is the file's "route": how alerts are grouped, by default.
	Route Route
	// Inhibit are the inhibit rules, in file order.
	Inhibit []Inhibit
	// AuditExport names the destinations every audit event is streamed
	// to (export.go).
	AuditExport []string
}

// Rule is one alert rule.
type Rule struct {
	// Name names the rule in alerts; unique.
	Name string
	// Kind is one of the Kind constants.
	Kind string
	// For is how long a device must be offline (KindOffline).
	For time.Duration
	// Tags limit KindOffline, KindKeyExpiring, KindJoined, KindLogMatch,
	// KindFileChanged and KindAccessRequest to devices with one of them;
	// empty: all.
	Tags []string
	// Count and Within: KindDenied's threshold; Within alone:
	// KindKeyExpiring's warning time.
	Count  int
	Within time.Duration
	// Severity is "info", "warning" or "critical".
	Severity string
	// To names the destinations the rule's alerts go to.
	To []string
	// Route is how the rule's alerts are grouped: the file's route with
	// what the rule sets itself; OwnRoute says it sets something (its
	// alerts then form groups of their own).
	Route    Route
	OwnRoute bool
	// Traffic holds the unusual-traffic kinds' settings (traffic.go).
	Traffic TrafficRule
}

// Problem is one error in a rules file, at FILE:line:col.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

// String formats p as FILE:line:col: message.
func (p Problem) String() string { return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg) }

// ErrorList is every problem of a rules file, in file order.
type ErrorList []Problem

// Error prints one problem a line.
func (l ErrorList) Error() string {
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return strings.Join(out, "\n")
}

var syntaxRE = regexp.MustCompile(`^hujson: line (\d+), column (\d+): (.*)$`)

// Parse reads a rules file named file; a file with any problem is refused
// whole with an ErrorList.
func Parse(file string, src []byte) (*Rules, error) {
	p := &parser{file: file, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	if len(src) > MaxRulesSize {
		p.errorf(0, "rules file is %d bytes; the limit is %d", len(src), MaxRulesSize)
		return nil, p.errs
	}
	v, err := hujson.Parse(src)
	if err != nil {
		msg, line, col := err.Error(), 1, 1
		if m := syntaxRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			col, _ = strconv.Atoi(m[2])
			msg = m[3]
		}
		return nil, ErrorList{{File: file, Line: line, Col: col, Msg: "syntax error: " + msg}}
	}
	rs := &Rules{Destinations: map[string]Destination{}}
	p.topLevel(rs, &v)
	p.crossCheck(rs)
	p.checkRoutes(rs)
	p.checkAuditExport(rs)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i], p.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, p.errs
	}
	return rs, nil
}

// parser walks the HuJSON tree, collecting problems.
type parser struct {
	file  string
	lines []int // byte offset of each line's start
	errs  ErrorList
	// toPos remembers where each rule's "to" was, for crossCheck.
	toPos []int
	// top is the file's "route"; routes each rule's own, in rule order.
	top    routeSpec
	routes []routeSpec
	// inhibitPos is where each inhibit rule starts.
	inhibitPos []int
	// exportPos is where "audit_export" was, for checkAuditExport.
	exportPos int
}

func (p *parser) errorf(off int, format string, args ...any) {
	i := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	i = max(i, 0)
	p.errs = append(p.errs, Problem{File: p.file, Line: i + 1, Col: off - p.lines[i] + 1, Msg: fmt.Sprintf(format, args...)})
}

// members returns v's members, or reports that v is not an object.
func (p *parser) members(v *hujson.Value, what string) []hujson.ObjectMember {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		p.errorf(v.StartOffset, "%s must be an object", what)
		return nil
	}
	return obj.Members
}

// elements returns v's elements, or reports that v is not a list.
func (p *parser) elements(v *hujson.Value, what string) []hujson.Value {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		p.errorf(v.StartOffset, "%s must be a list", what)
		return nil
	}
	return arr.Elements
}

func (p *parser) str(v *hujson.Value, what string) string {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '"' {
		p.errorf(v.StartOffset, "%s must be a string", what)
		return ""
	}
	return lit.String()
}

func (p *parser) strs(v *hujson.Value, what string) []string {
	var out []string
	for _, e := range p.elements(v, what) {
		out = append(out, p.str(&e, what+" entry"))
	}
	return out
}

func (p *parser) duration(v *hujson.Value, what string) time.Duration {
	s := p.str(v, what)
	d, err := time.ParseDuration(s)
	if s != "" && (err != nil || d <= 0) {
		p.errorf(v.StartOffset, "%s: %q is not a positive duration (\"5m\", \"1h\")", what, s)
	}
	return d
}

func (p *parser) count(v *hujson.Value, what string) int {
	lit, ok := v.Value.(hujson.Literal)
	n, err := strconv.Atoi(string(lit))
	if !ok || lit.Kind() != '0' || err != nil || n < 1 {
		p.errorf(v.StartOffset, "%s must be a whole number of at least 1", what)
	}
	return n
}

func name(m *hujson.ObjectMember) string { return m.Name.Value.(hujson.Literal).String() }

func (p *parser) topLevel(rs *Rules, v *hujson.Value) {
	for _, m := range p.members(v, "the rules file") {
		switch name(&m) {
		case "webhooks":
			for _, e := range p.elements(&m.Value, `"webhooks"`) {
				p.destination(rs, &e, TypeWebhook)
			}
		case "destinations":
			for _, e := range p.elements(&m.Value, `"destinations"`) {
				p.destination(rs, &e, "")
			}
		case "rules":
			for _, e := range p.elements(&m.Value, `"rules"`) {
				p.rule(rs, &e)
			}
		case "watch":
			p.watchList(rs, &m.Value)
		case "route":
			p.route(&m.Value)
		case "inhibit":
			p.inhibitList(rs, &m.Value)
		case "audit_export":
			p.auditExport(rs, &m.Value)
		default:
			p.errorf(m.Name.StartOffset, "unknown key %q (known: webhooks, destinations, rules, watch, route, inhibit, audit_export)", name(&m))
		}
	}
}

// destination parses one destination; typ is the type every entry of its
// list has ("webhooks": TypeWebhook), or "" where each names its own.
func (p *parser) destination(rs *Rules, v *hujson.Value, typ string) {
	d := Destination{Type: typ}
	known := "name, url, secret"
	if typ == "" {
		known = "name, type, url, secret, address, from, to, username, password"
	}
	for _, m := range p.members(v, "a destination") {
		val := &m.Value
		switch k := name(&m); {
		case k == "name":
			d.Name = p.str(val, "name")
		case k == "type" && typ == "":
			d.Type = p.str(val, "type")
			if !slices.Contains([]string{TypeWebhook, TypeSlack, TypeSyslog, TypeEmail}, d.Type) {
				p.errorf(val.StartOffset, "type %q: one of %s, %s, %s, %s", d.Type, TypeWebhook, TypeSlack, TypeSyslog, TypeEmail)
			}
		case k == "url":
			d.URL = p.str(val, "url")
			if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				p.errorf(val.StartOffset, "url %q is not an http(s) URL", d.URL)
			}
		case k == "secret":
			d.Secret = p.str(val, "secret")
		case k == "address" && typ == "":
			d.Address = p.str(val, "address")
		case k == "from" && typ == "":
			d.From = p.str(val, "from")
		case k == "to" && typ == "":
			d.To = p.strs(val, "to")
		case k == "username" && typ == "":
			d.Username = p.str(val, "username")
		case k == "password" && typ == "":
			d.Password = p.str(val, "password")
		default:
			p.errorf(m.Name.StartOffset, "unknown destination key %q (known: %s)", k, known)
		}
	}
	if d.Type == "" {
		d.Type = TypeWebhook
	}
	if _, dup := rs.Destinations[d.Name]; dup && d.Name != "" {
		p.errorf(v.StartOffset, "destination %q is defined twice", d.Name)
	}
	if msg := checkDestination(d); msg != "" {
		p.errorf(v.StartOffset, "%s", msg)
	}
	rs.Destinations[d.Name] = d
}

// checkDestination says what d lacks for its type; "" when nothing.
func checkDestination(d Destination) string {
	switch {
	case d.Name == "":
		return "a destination needs a name"
	case d.Type == TypeWebhook && d.URL == "":
		return fmt.Sprintf("webhook %q needs a url", d.Name)
	case d.Type == TypeWebhook && len(d.Secret) < 16:
		return fmt.Sprintf("webhook %q needs a secret of at least 16 characters (it signs the body)", d.Name)
	case d.Type == TypeSlack && d.URL == "":
		return fmt.Sprintf("slack destination %q needs a url (its incoming webhook)", d.Name)
	case d.Type == TypeSyslog:
		u, err := url.Parse(d.Address)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "tls") || u.Port() == "" {
			return fmt.Sprintf("syslog destination %q needs an address tcp://host:port or tls://host:port, not %q", d.Name, d.Address)
		}
	case d.Type == TypeEmail:
		if _, port, err := net.SplitHostPort(d.Address); err != nil || port == "" {
			return fmt.Sprintf("email destination %q needs an address host:port (its SMTP server), not %q", d.Name, d.Address)
		}
		if d.From == "" || len(d.To) == 0 {
			return fmt.Sprintf("email destination %q needs from and to", d.Name)
		}
		if (d.Username == "") != (d.Password == "") {
			return fmt.Sprintf("email destination %q needs both username and password, or neither", d.Name)
		}
	}
	return ""
}

func (p *parser) rule(rs *Rules, v *hujson.Value) {
	r := Rule{Severity: "warning"}
	to := v.StartOffset
	var spec routeSpec
	for _, m := range p.members(v, "a rule") {
		val := &m.Value
		if p.routeKey(&spec, name(&m), val) {
			continue
		}
		switch name(&m) {
		case "name":
			r.Name = p.str(val, "name")
		case "kind":
			r.Kind = p.str(val, "kind")
			if !slices.Contains(kinds, r.Kind) {
				p.errorf(val.StartOffset, "kind %q: known kinds are %s", r.Kind, strings.Join(kinds, ", "))
			}
		case "for":
			r.For = p.duration(val, "for")
		case "within":
			r.Within = p.duration(val, "within")
		case "count":
			r.Count = p.count(val, "count")
		case "tags":
			r.Tags = p.strs(val, "tags")
		case "severity":
			r.Severity = p.str(val, "severity")
			if !slices.Contains([]string{"info", "warning", "critical"}, r.Severity) {
				p.errorf(val.StartOffset, "severity %q: one of info, warning, critical", r.Severity)
			}
		case "to":
			r.To, to = p.strs(val, "to"), val.StartOffset
		default:
			if !p.trafficKey(&r, name(&m), val) {
				p.errorf(m.Name.StartOffset, "unknown rule key %q (known: name, kind, for, within, count, tags, severity, to, %s, %s)", name(&m), routeKeys, trafficKeys)
			}
		}
	}
	p.checkRule(r, v.StartOffset)
	p.checkTraffic(&r, v.StartOffset)
	rs.Rules = append(rs.Rules, r)
	p.toPos = append(p.toPos, to)
	p.routes = append(p.routes, spec)
}

// checkRule reports what r lacks for its kind.
func (p *parser) checkRule(r Rule, off int) {
	switch {
	case r.Name == "":
		p.errorf(off, "a rule needs a name")
	case r.Kind == KindOffline && r.For == 0:
		p.errorf(off, "rule %q: %s needs \"for\"", r.Name, KindOffline)
	case r.Kind == KindDenied && (r.Count == 0 || r.Within == 0):
		p.errorf(off, "rule %q: %s needs \"count\" and \"within\"", r.Name, KindDenied)
	case r.Kind == KindKeyExpiring && r.Within == 0:
		p.errorf(off, "rule %q: %s needs \"within\"", r.Name, KindKeyExpiring)
	case len(r.To) == 0:
		p.errorf(off, "rule %q needs \"to\": the destinations its alerts go to", r.Name)
	}
}

// crossCheck checks names across the file: unique rules, known webhooks.
func (p *parser) crossCheck(rs *Rules) {
	seen := map[string]bool{}
	for i, r := range rs.Rules {
		if seen[r.Name] && r.Name != "" {
			p.errorf(p.toPos[i], "rule %q is defined twice", r.Name)
		}
		seen[r.Name] = true
		for _, to := range r.To {
			if _, ok := rs.Destinations[to]; !ok {
				p.errorf(p.toPos[i], "rule %q: no destination named %q", r.Name, to)
			}
		}
	}
}
