package admin

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what an admin may do. Roles come from the coordinator's
// configuration, given to IdP groups, policy groups and emails (see
// MemberIdP and RoleOf); an API key acts with the role of the person who
// made it (the system's keys as RoleOwner).
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner        Role = "owner"         // everything
	RoleAdmin        Role = "admin"         // everything but managing owners
	RoleNetworkAdmin Role = "network-admin" // the policy; read everything
	RoleITAdmin      Role = "it-admin"      // devices, keys, users; read everything
	RoleAuditor      Role = "auditor"       // read everything, change nothing
	RoleNone         Role = ""              // a member with no admin role
)

// Perm is one kind of thing a principal may do. The role matrix, checked on
// the server for every page and every API call:
//
//	role           read  policy  fleet  apikeys
//	owner           ✓      ✓       ✓       ✓
//	admin           ✓      ✓       ✓
//	network-admin   ✓      ✓
//	it-admin        ✓              ✓
//	auditor         ✓
//	(none)
//
// read is every page and every GET (nodes, users, keys without secrets,
// policy and versions, audit log and its export); policy is saving and
// rolling back the policy; fleet is node tags, key expiry and removal,
// pre-auth keys, and disabling users; apikeys is creating and revoking API
// keys, the owner's alone. An action on a person (disabling or enabling
// them, rebinding an email, moving them to another issuer, or acting on
// their own nodes) also needs a role that covers theirs (Covers): an admin
// does everything but manage owners, an it-admin does not manage admins
// either. Checking a policy and previewing its impact
// change nothing and need only read. An API key acts with the current role
// of the person who made it (so never more than owner, and less once they
// lose a role); the system's keys (the bootstrap key and keys it made) act
// as RoleOwner.
type Perm int

// Permissions of the role matrix.
const (
	PermRead Perm = iota
	PermPolicy
	PermFleet
	PermAPIKeys
)

var permNames = [...]string{PermRead: "read", PermPolicy: "change the policy",
	PermFleet: "change devices, keys and users", PermAPIKeys: "manage API keys"}

// String names p for error messages.
func (p Perm) String() string { return permNames[p] }

// roleMatrix is the role matrix of Perm.
var roleMatrix = map[Role][]Perm{
	RoleOwner:        {PermRead, PermPolicy, PermFleet, PermAPIKeys},
	RoleAdmin:        {PermRead, PermPolicy, PermFleet},
	RoleNetworkAdmin: {PermRead, PermPolicy},
	RoleITAdmin:      {PermRead, PermFleet},
	RoleAuditor:      {PermRead},
}

// Name names r for people: the role, or "none" for RoleNone.
func (r Role) Name() string {
	if r == RoleNone {
		return "none"
	}
	return string(r)
}

// Can reports whether role r has permission p.
func (r Role) Can(p Perm) bool { return slices.Contains(roleMatrix[r], p) }

// Valid reports whether r is one of the named roles (not RoleNone).
func (r Role) Valid() bool { _, ok := roleMatrix[r]; return ok }

// Role mapping keys (Config.Roles) name who gets a role, in one of three
// forms:
//
//	idp:NAME           everyone whose IdP groups claim holds NAME
//	group:NAME         everyone the policy's "groups" lists under group:NAME
//	alice@example.com  that person (emails compare case-insensitively)
const (
	// MemberIdP prefixes an IdP group.
	MemberIdP = "idp:"
	// MemberPolicyGroup prefixes a group of the policy's "groups".
	MemberPolicyGroup = "group:"
)

// Member is what a person's admin role is resolved from.
type Member struct {
	// Email is the person's email, as the IdP gave it.
	Email string
	// IdPGroups are the groups of the IdP's groups claim.
	IdPGroups []string
	// PolicyGroups are the groups of the running policy's "groups" that
	// list the email ("group:ops").
	PolicyGroups []string
}

// keys returns the mapping keys m matches.
func (m Member) keys() []string {
	keys := make([]string, 0, 1+len(m.IdPGroups)+len(m.PolicyGroups))
	if m.Email != "" {
		keys = append(keys, emailKey(m.Email))
	}
	for _, g := range m.IdPGroups {
		keys = append(keys, MemberIdP+g)
	}
	return append(keys, m.PolicyGroups...)
}

// CheckRoles validates a role mapping (see MemberIdP for its keys) and
// returns it in the form RoleOf reads (emails lower-cased, in a namespace
// of their own).
func CheckRoles(mapping map[string]Role) (map[string]Role, error) {
	out := make(map[string]Role, len(mapping))
	for k, r := range mapping {
		key, err := memberKey(k)
		if err != nil {
			return nil, err
		}
		if !r.Valid() {
			return nil, fmt.Errorf("role mapping %s: unknown role %q (want owner, admin, network-admin, it-admin or auditor)", k, r)
		}
		if old, dup := out[key]; dup && old != r {
			return nil, fmt.Errorf("role mapping: %s is given both %s and %s", k, old, r)
		}
		out[key] = r
	}
	return out, nil
}

// memberKey checks one mapping key and normalizes an email.
func memberKey(k string) (string, error) {
	for _, p := range []string{MemberIdP, MemberPolicyGroup} {
		if name, ok := strings.CutPrefix(k, p); ok {
			if strings.TrimSpace(name) == "" {
				return "", fmt.Errorf("role mapping %q: empty group name after %s", k, p)
			}
			return k, nil
		}
	}
	email := strings.TrimPrefix(k, memberEmail) // the form CheckRoles returns
	if at := strings.LastIndexByte(email, '@'); at > 0 && at < len(email)-1 && !strings.ContainsAny(email, " ,") {
		return emailKey(email), nil
	}
	return "", fmt.Errorf("role mapping %q: want idp:GROUP (an IdP group), group:NAME (a policy group) or an email", k)
}

// memberEmail prefixes an email in a checked mapping: a namespace of its
// own, so that no email can pass for an IdP or policy group.
const memberEmail = "email:"

// emailKey is the mapping key of an email.
func emailKey(email string) string { return memberEmail + strings.ToLower(email) }

// roleRank orders roles for "highest wins".
var roleRank = map[Role]int{RoleAuditor: 1, RoleITAdmin: 2, RoleNetworkAdmin: 2, RoleAdmin: 3, RoleOwner: 4}

// RoleOf resolves m's role through mapping (a validated one, see
// CheckRoles): the highest role among the keys m matches wins, and
// network-admin together with it-admin makes admin (their union is exactly
// admin's rights). No matching key gives RoleNone.
func RoleOf(m Member, mapping map[string]Role) Role {
	best := RoleNone
	var net, it bool
	for _, k := range m.keys() {
		r := mapping[k]
		net = net || r == RoleNetworkAdmin
		it = it || r == RoleITAdmin
		if roleRank[r] > roleRank[best] {
			best = r
		}
	}
	if net && it && roleRank[best] < roleRank[RoleAdmin] {
		return RoleAdmin
	}
	return best
}

// Covers reports whether r has every permission of o: whether a principal
// of role r may decide who holds o.
func (r Role) Covers(o Role) bool {
	for _, p := range roleMatrix[o] {
		if !r.Can(p) {
			return false
		}
	}
	return true
}

// Cap returns r limited to limit: the role with exactly the rights r and
// limit both have (owner capped at admin is admin; network-admin capped at
// it-admin is auditor, their one shared right). A principal that may act
// with no more than either of two roles acts with r.Cap(limit).
func (r Role) Cap(limit Role) Role {
	best := RoleNone
	for _, o := range []Role{RoleOwner, RoleAdmin, RoleNetworkAdmin, RoleITAdmin, RoleAuditor} {
		if r.Covers(o) && limit.Covers(o) && len(roleMatrix[o]) > len(roleMatrix[best]) {
			best = o
		}
	}
	return best
}
