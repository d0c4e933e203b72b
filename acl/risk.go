package acl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// DefaultRiskClasses are a policy's risk classes when it lists none, from
// the most to the least critical. A node no one classified is in the last.
var DefaultRiskClasses = []string{"critical", "sensitive", "standard"}

// AlertSeverities are the values of a risk class's "alertSeverity", from
// the least to the most severe.
var AlertSeverities = []string{"info", "low", "medium", "high", "critical"}

// RiskClassDef is one entry of "riskClasses" as written: a name alone
// ("standard") or an object with requirements.
type RiskClassDef struct {
	Pos  Pos
	Name Str
	// KeyLifetime, MFAWithin and MaxDuration are durations ("4h", "15m");
	// empty when absent.
	KeyLifetime, MFAWithin, MaxDuration Str
	// Approval is the group that approves access requests; empty when
	// absent.
	Approval Str
	// AlertSeverity is one of AlertSeverities; empty when absent.
	AlertSeverity Str
}

// RiskClass is a validated risk class and what reaching one of its
// devices requires. Zero values mean no requirement.
type RiskClass struct {
	Name string `json:"name"`
	// KeyLifetime caps the key lifetime of people who may reach the class.
	KeyLifetime time.Duration `json:"key_lifetime,omitempty"`
	// MFAWithin is how recent a person's second-factor login must be to
	// reach the class.
	MFAWithin time.Duration `json:"mfa_within,omitempty"`
	// Approval is the group:name whose members approve access requests to
	// the class's devices; empty when requests need no approval group.
	Approval string `json:"approval,omitempty"`
	// MaxDuration caps the duration of an approved request.
	MaxDuration time.Duration `json:"max_duration,omitempty"`
	// AlertSeverity is the severity of alerts about the class's devices
	// (one of AlertSeverities); empty for the default.
	AlertSeverity string `json:"alert_severity,omitempty"`
}

var riskNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// riskClasses parses "riskClasses": a list of names or objects.
func (d *decoder) riskClasses(p *Policy, v *hujson.Value) {
	d.each(v, "riskClasses", func(e *hujson.Value) {
		def := RiskClassDef{Pos: d.pos(e)}
		if _, ok := e.Value.(*hujson.Object); !ok {
			if s, ok := d.str(e, "a risk class"); ok {
				def.Name = s
				p.RiskClasses = append(p.RiskClasses, def)
			}
			return
		}
		fields := map[string]*Str{"name": &def.Name, "keyLifetime": &def.KeyLifetime, "mfaWithin": &def.MFAWithin,
			"maxDuration": &def.MaxDuration, "approval": &def.Approval, "alertSeverity": &def.AlertSeverity}
		for _, m := range d.object(e, "a risk class") {
			key := d.name(&m)
			f, known := fields[key.S]
			if !known {
				d.rep.errorf(key.Pos, "unknown key %q in a risk class (known: name, keyLifetime, mfaWithin, approval, maxDuration, alertSeverity)", key.S)
				continue
			}
			*f, _ = d.str(&m.Value, `"`+key.S+`"`)
		}
		if def.Name.Pos == (Pos{}) {
			d.rep.errorf(def.Pos, "risk class is missing \"name\"")
			return
		}
		p.RiskClasses = append(p.RiskClasses, def)
	})
}

// riskClasses validates the policy's classes, or sets the defaults.
func (r *resolver) riskClasses(defs []RiskClassDef) {
	r.sc.risks = map[string]bool{}
	if len(defs) == 0 {
		for _, n := range DefaultRiskClasses {
			r.rs.risks = append(r.rs.risks, RiskClass{Name: n})
			r.sc.risks[n] = true
		}
		return
	}
	for _, d := range defs {
		rc, ok := r.riskClass(d)
		if !ok {
			continue
		}
		if r.sc.risks[rc.Name] {
			r.rep.errorf(d.Name.Pos, "risk class %q is defined twice", rc.Name)
			continue
		}
		r.sc.risks[rc.Name] = true
		r.rs.risks = append(r.rs.risks, rc)
	}
}

func (r *resolver) riskClass(d RiskClassDef) (RiskClass, bool) {
	rc := RiskClass{Name: d.Name.S, Approval: d.Approval.S, AlertSeverity: d.AlertSeverity.S}
	ok := true
	if !riskNameRE.MatchString(rc.Name) {
		r.rep.errorf(d.Name.Pos, "risk class %q: a name is lowercase letters, digits and '-', starting with a letter", rc.Name)
		ok = false
	}
	for _, f := range []struct {
		s   Str
		out *time.Duration
	}{{d.KeyLifetime, &rc.KeyLifetime}, {d.MFAWithin, &rc.MFAWithin}, {d.MaxDuration, &rc.MaxDuration}} {
		if f.s.S == "" && f.s.Pos == (Pos{}) {
			continue
		}
		v, err := time.ParseDuration(f.s.S)
		if err != nil || v <= 0 {
			r.rep.errorf(f.s.Pos, "risk class %s: %q is not a positive duration like \"15m\" or \"4h\"", rc.Name, f.s.S)
			ok = false
			continue
		}
		*f.out = v
	}
	if d.Approval.Pos != (Pos{}) && (!strings.HasPrefix(rc.Approval, "group:") || !r.sc.groups[rc.Approval]) {
		r.rep.errorf(d.Approval.Pos, "risk class %s: approval %q must be a group defined in \"groups\" (or by the identity provider)", rc.Name, rc.Approval)
		ok = false
	}
	if d.AlertSeverity.Pos != (Pos{}) && !slices.Contains(AlertSeverities, rc.AlertSeverity) {
		r.rep.errorf(d.AlertSeverity.Pos, "risk class %s: alertSeverity %q is not one of %s", rc.Name, rc.AlertSeverity, strings.Join(AlertSeverities, ", "))
		ok = false
	}
	return rc, ok
}

// RiskClasses returns the policy's risk classes, from the most to the
// least critical (DefaultRiskClasses when the policy lists none). The
// caller must not modify the result.
func (rs *Ruleset) RiskClasses() []RiskClass { return rs.risks }

// RiskClass returns the class named name.
func (rs *Ruleset) RiskClass(name string) (RiskClass, bool) {
	i := slices.IndexFunc(rs.risks, func(rc RiskClass) bool { return rc.Name == name })
	if i < 0 {
		return RiskClass{}, false
	}
	return rs.risks[i], true
}

// DefaultRiskClass is the class of a node no one classified, or whose
// class the policy does not define: the last (least critical) one.
func (rs *Ruleset) DefaultRiskClass() string { return rs.risks[len(rs.risks)-1].Name }

// RiskOf returns the effective class of a node classified as class
// (possibly empty).
func (rs *Ruleset) RiskOf(class string) string {
	if _, ok := rs.RiskClass(class); ok {
		return class
	}
	return rs.DefaultRiskClass()
}

// CheckRiskClass returns an error naming the known classes when the
// policy does not define class.
func (rs *Ruleset) CheckRiskClass(class string) error {
	if _, ok := rs.RiskClass(class); ok {
		return nil
	}
	names := make([]string, len(rs.risks))
	for i, rc := range rs.risks {
		names[i] = rc.Name
	}
	return fmt.Errorf("%w: risk class %q is not defined by the policy (known: %s)", ErrUnknownRiskClass, class, strings.Join(names, ", "))
}

// KeyLifetimeFor returns the shortest keyLifetime among the risk classes
// the person email may reach under c's accept rules (a rule whose src
// covers the person, toward a risk: alias or a live node of the class),
// or 0 when none of those classes sets one.
func (c *Compiled) KeyLifetimeFor(email string) time.Duration {
	person := &nodeState{Node: Node{User: email}}
	var out time.Duration
	note := func(class string) {
		if rc, ok := c.rs.RiskClass(class); ok && rc.KeyLifetime > 0 && (out == 0 || rc.KeyLifetime < out) {
			out = rc.KeyLifetime
		}
	}
	for _, cr := range c.rules {
		if cr.deny || cr.caps != nil || !slices.ContainsFunc(cr.src, func(a alias) bool { return c.matches(a, person) }) {
			continue
		}
		for _, e := range cr.dst {
			if e.alias.kind == kindRisk {
				note(e.alias.name)
			}
		}
		cr.dstUnion.each(func(i int32) { note(c.nodes[i].risk) })
	}
	return out
}
