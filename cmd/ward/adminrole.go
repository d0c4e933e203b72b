package main

import (
	"fmt"
	"strings"

	"github.com/wardnet/ward/admin"
)

// parseAdminRoles parses --admin-role values. Each is
// ROLE=MEMBER[,MEMBER...], where a member is idp:GROUP (an IdP group),
// group:NAME (a group of the policy's "groups") or an email; the flag may
// be repeated. The older GROUP=ROLE form (an IdP group) is still read, and
// each use of it is returned in legacy, to be warned about.
func parseAdminRoles(vals []string) (roles map[string]admin.Role, legacy []string, err error) {
	roles = map[string]admin.Role{}
	add := func(member string, r admin.Role) error {
		if old, ok := roles[member]; ok && old != r {
			return fmt.Errorf("--admin-role: %s is given both %s and %s", member, old, r)
		}
		roles[member] = r
		return nil
	}
	for _, v := range vals {
		var role admin.Role // the role of this value's bare members
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			left, right, hasEq := strings.Cut(item, "=")
			switch {
			case item == "":
				return nil, nil, fmt.Errorf("--admin-role %q: empty member", v)
			case hasEq && admin.Role(left).Valid() && right != "":
				role = admin.Role(left)
				err = add(right, role)
			case hasEq && admin.Role(right).Valid() && !admin.Role(left).Valid() && left != "":
				role, legacy = admin.RoleNone, append(legacy, item)
				err = add(admin.MemberIdP+left, admin.Role(right))
			case hasEq:
				return nil, nil, fmt.Errorf("--admin-role %q: want ROLE=MEMBER,... with ROLE one of owner, admin, network-admin, it-admin, auditor", item)
			case role == admin.RoleNone:
				return nil, nil, fmt.Errorf("--admin-role %q: member %q has no role: write ROLE=%s", v, item, item)
			default:
				err = add(item, role)
			}
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if _, err := admin.CheckRoles(roles); err != nil {
		return nil, nil, fmt.Errorf("--admin-role: %w", err)
	}
	return roles, legacy, nil
}
