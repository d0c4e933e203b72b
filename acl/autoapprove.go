package acl

import (
	"net/netip"
	"slices"

	"github.com/tailscale/hujson"
)

// AutoApprover is one entry of "autoApprovers"."routes": a route prefix and
// who may advertise routes within it without an admin's approval.
type AutoApprover struct {
	Route     Str
	Approvers []Str
}

// autoRoute is a resolved AutoApprover.
type autoRoute struct {
	prefix    netip.Prefix
	approvers []alias
}

// autoApprovers decodes "autoApprovers" in Tailscale's format:
// {"routes": {"192.168.10.0/24": ["tag:gw", "group:ops", "user@x"]},
// "exitNode": [...]}. Exit nodes are accepted and not acted on.
func (d *decoder) autoApprovers(p *Policy, v *hujson.Value) {
	for _, m := range d.object(v, `"autoApprovers"`) {
		key := d.name(&m)
		switch key.S {
		case "routes":
			for _, r := range d.object(&m.Value, `"autoApprovers"."routes"`) {
				a := AutoApprover{Route: d.name(&r)}
				a.Approvers = d.strList(&r.Value, "approvers of "+a.Route.S)
				p.AutoApprovers = append(p.AutoApprovers, a)
			}
		case "exitNode":
			d.strList(&m.Value, `"autoApprovers"."exitNode"`)
		default:
			d.rep.errorf(key.Pos, "unknown key %q in \"autoApprovers\" (known: routes, exitNode)", key.S)
		}
	}
}

// autoApprovers resolves the policy's auto-approvers: each route a CIDR (or
// a hosts name), each approver a tag, group or user the policy knows.
func (r *resolver) autoApprovers(as []AutoApprover) {
	for _, a := range as {
		pfx, ok := r.sc.hosts[a.Route.S]
		if !ok {
			var err error
			if pfx, err = netip.ParsePrefix(a.Route.S); err != nil {
				r.rep.errorf(a.Route.Pos, "autoApprovers route %q is not a CIDR: %v", a.Route.S, err)
				continue
			}
		}
		ar := autoRoute{prefix: pfx.Masked()}
		for _, s := range a.Approvers {
			al, err := r.sc.parseAlias(s.S, false)
			if err == nil && al.kind != kindTag && al.kind != kindGroup && al.kind != kindUser {
				r.rep.errorf(s.Pos, "autoApprovers approver %q must be a tag:, group: or user", s.S)
				continue
			}
			if err != nil {
				r.rep.errorf(s.Pos, "%v", err)
				continue
			}
			ar.approvers = append(ar.approvers, al)
		}
		r.rs.autoRoutes = append(r.rs.autoRoutes, ar)
	}
}

// AutoApproves reports whether the policy's autoApprovers approve route
// when a node owned by user (untagged) or by tags advertises it: some
// autoApprovers route holds all of route, and lists one of the node's
// tags, or (for a user's node) its user or one of the user's groups.
func (rs *Ruleset) AutoApproves(route netip.Prefix, user string, tags []string) bool {
	route = route.Masked()
	for _, ar := range rs.autoRoutes {
		if !covers(ar.prefix, route) {
			continue
		}
		for _, a := range ar.approvers {
			switch {
			case a.kind == kindTag && slices.Contains(tags, a.name):
				return true
			case len(tags) > 0 || user == "":
			case a.kind == kindUser && a.name == user:
				return true
			case a.kind == kindGroup && slices.Contains(rs.groups[a.name], user):
				return true
			}
		}
	}
	return false
}
