package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/admin"
)

// TestAdminRoleFlag: --admin-role ROLE=MEMBER,... gives a role to IdP
// groups, policy groups and emails, repeatable; the older GROUP=ROLE form
// still means an IdP group and is reported; anything ambiguous is refused.
func TestAdminRoleFlag(t *testing.T) {
	tests := []struct {
		name   string
		vals   []string
		want   map[string]admin.Role
		legacy int
		ok     bool
	}{
		{"members of every kind", []string{"admin=group:ops,alice@example.com,idp:ward-admins"},
			map[string]admin.Role{"group:ops": admin.RoleAdmin, "email:alice@example.com": admin.RoleAdmin, "idp:ward-admins": admin.RoleAdmin}, 0, true},
		{"repeated", []string{"owner=carol@example.com", "auditor=idp:secops,group:audit"},
			map[string]admin.Role{"email:carol@example.com": admin.RoleOwner, "idp:secops": admin.RoleAuditor, "group:audit": admin.RoleAuditor}, 0, true},
		{"two roles in one value", []string{"auditor=idp:secops,network-admin=group:net"},
			map[string]admin.Role{"idp:secops": admin.RoleAuditor, "group:net": admin.RoleNetworkAdmin}, 0, true},
		{"old form", []string{"netops=network-admin,secops=auditor"},
			map[string]admin.Role{"idp:netops": admin.RoleNetworkAdmin, "idp:secops": admin.RoleAuditor}, 2, true},
		{"bare name", []string{"admin=ops"}, nil, 0, false},
		{"member without a role", []string{"alice@example.com"}, nil, 0, false},
		{"unknown role", []string{"superuser=alice@example.com"}, nil, 0, false},
		{"one member, two roles", []string{"owner=alice@example.com", "auditor=Alice@Example.com"}, nil, 0, false},
		{"empty member", []string{"admin=idp:x,,group:y"}, nil, 0, false},
		{"role for a role", []string{"admin=owner"}, nil, 0, false},
	}
	for _, tt := range tests {
		got, legacy, err := parseAdminRoles(tt.vals)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
			continue
		}
		if tt.ok {
			checked, _ := admin.CheckRoles(got)
			if !cmp.Equal(checked, tt.want) || len(legacy) != tt.legacy {
				t.Errorf("%s: roles %v legacy %v, want %v and %d old-form values", tt.name, checked, legacy, tt.want, tt.legacy)
			}
		}
	}
}
