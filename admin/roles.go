package admin

import "slices"

// Role is what an admin may do. Roles come from IdP groups through the
// coordinator's configuration; an API key acts with the role of the person
// who made it (the system's keys as RoleOwner).
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
// keys, the owner's alone. Checking a policy and previewing its impact
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

// Can reports whether role r has permission p.
func (r Role) Can(p Perm) bool { return slices.Contains(roleMatrix[r], p) }

// Valid reports whether r is one of the named roles (not RoleNone).
func (r Role) Valid() bool { _, ok := roleMatrix[r]; return ok }

// roleRank orders roles for "highest wins".
var roleRank = map[Role]int{RoleAuditor: 1, RoleITAdmin: 2, RoleNetworkAdmin: 2, RoleAdmin: 3, RoleOwner: 4}

// RoleOf resolves a person's role from their IdP groups through mapping
// (group → role): the highest mapped role wins, and network-admin together
// with it-admin makes admin (their union is exactly admin's rights). No
// mapped group gives RoleNone.
func RoleOf(groups []string, mapping map[string]Role) Role {
	best := RoleNone
	var net, it bool
	for _, g := range groups {
		r := mapping[g]
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
