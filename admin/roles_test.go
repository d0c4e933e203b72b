package admin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoleOf(t *testing.T) {
	m, err := CheckRoles(map[string]Role{"idp:own": RoleOwner, "idp:adm": RoleAdmin, "idp:net": RoleNetworkAdmin, "idp:it": RoleITAdmin,
		"idp:aud": RoleAuditor, "alice@example.com": RoleITAdmin, "group:ops": RoleNetworkAdmin, "group:audit": RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m    Member
		want Role
	}{
		{Member{}, RoleNone},
		{Member{IdPGroups: []string{"ops"}}, RoleNone},
		{Member{IdPGroups: []string{"aud"}}, RoleAuditor},
		{Member{IdPGroups: []string{"aud", "net"}}, RoleNetworkAdmin},
		{Member{IdPGroups: []string{"it", "aud"}}, RoleITAdmin},
		{Member{IdPGroups: []string{"net", "it"}}, RoleAdmin},
		{Member{IdPGroups: []string{"adm", "aud"}}, RoleAdmin},
		{Member{IdPGroups: []string{"net", "it", "own"}}, RoleOwner},
		{Member{IdPGroups: []string{"AUD"}}, RoleNone},                                         // group names match exactly
		{Member{IdPGroups: []string{"group:ops"}}, RoleNone},                                   // an IdP group is never a policy group
		{Member{Email: "Alice@Example.com"}, RoleITAdmin},                                      // emails match in any case
		{Member{Email: "bob@example.com", PolicyGroups: []string{"group:audit"}}, RoleAuditor}, // a policy group
		{Member{Email: "alice@example.com", PolicyGroups: []string{"group:ops"}}, RoleAdmin},   // it-admin by email + network-admin by policy group
		{Member{Email: "idp:own"}, RoleNone},                                                   // an email is never a group
		{Member{Email: "group:ops"}, RoleNone},
	} {
		if got := RoleOf(c.m, m); got != c.want {
			t.Errorf("RoleOf(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

// TestAdminRoleMappingKeys: a role is given to an IdP group, a policy
// group or an email, each written so it cannot be taken for another.
func TestAdminRoleMappingKeys(t *testing.T) {
	got, err := CheckRoles(map[string]Role{"idp:ops": RoleAuditor, "group:net": RoleNetworkAdmin, "Alice@Example.COM": RoleOwner})
	want := map[string]Role{"idp:ops": RoleAuditor, "group:net": RoleNetworkAdmin, "email:alice@example.com": RoleOwner}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("CheckRoles = %v, %v; want %v", got, err, want)
	}
	if again, err := CheckRoles(got); err != nil || !cmp.Equal(again, want) {
		t.Errorf("CheckRoles of its own result = %v, %v; want %v", again, err, want)
	}
	for _, bad := range []map[string]Role{
		{"ops": RoleAdmin},                             // a bare name: IdP group or policy group?
		{"idp:": RoleAdmin},                            // no group
		{"group: ": RoleAdmin},                         // no group
		{"@example.com": RoleAdmin},                    // not an email
		{"alice@": RoleAdmin},                          // not an email
		{"idp:ops": "superuser"},                       // no such role
		{"idp:ops": RoleNone},                          // no role
		{"a@x.com": RoleOwner, "A@x.com": RoleAuditor}, // one person, two roles
	} {
		if _, err := CheckRoles(bad); err == nil {
			t.Errorf("CheckRoles(%v) accepted", bad)
		}
	}
}

// TestRoleCovers: a role covers another when it has all its rights.
func TestRoleCovers(t *testing.T) {
	for _, c := range []struct {
		r, o Role
		want bool
	}{
		{RoleOwner, RoleOwner, true}, {RoleAdmin, RoleOwner, false}, {RoleAdmin, RoleITAdmin, true},
		{RoleNetworkAdmin, RoleITAdmin, false}, {RoleNetworkAdmin, RoleAdmin, false}, {RoleNetworkAdmin, RoleAuditor, true},
		{RoleNone, RoleAuditor, false},
	} {
		if got := c.r.Covers(c.o); got != c.want {
			t.Errorf("%q covers %q = %v, want %v", c.r, c.o, got, c.want)
		}
	}
}

// TestRoleMatrix pins the matrix documented on Perm.
func TestRoleMatrix(t *testing.T) {
	got := map[Role]string{}
	for _, r := range []Role{RoleOwner, RoleAdmin, RoleNetworkAdmin, RoleITAdmin, RoleAuditor, RoleNone} {
		var b strings.Builder
		for _, p := range []Perm{PermRead, PermPolicy, PermFleet, PermAPIKeys} {
			if r.Can(p) {
				b.WriteString("y")
			} else {
				b.WriteString("-")
			}
		}
		got[r] = b.String()
	}
	want := map[Role]string{RoleOwner: "yyyy", RoleAdmin: "yyy-", RoleNetworkAdmin: "yy--", RoleITAdmin: "y-y-", RoleAuditor: "y---", RoleNone: "----"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("role matrix (-want +got):\n%s", diff)
	}
}

// TestRoleCap: a role capped by another has the rights both have, and
// capping is symmetric.
func TestRoleCap(t *testing.T) {
	for _, c := range []struct{ r, limit, want Role }{
		{RoleOwner, RoleOwner, RoleOwner}, {RoleOwner, RoleAdmin, RoleAdmin}, {RoleAdmin, RoleNetworkAdmin, RoleNetworkAdmin},
		{RoleAdmin, RoleITAdmin, RoleITAdmin}, {RoleNetworkAdmin, RoleITAdmin, RoleAuditor}, {RoleOwner, RoleAuditor, RoleAuditor},
		{RoleOwner, RoleNone, RoleNone}, {RoleNone, RoleNone, RoleNone}, {RoleITAdmin, RoleITAdmin, RoleITAdmin},
	} {
		for _, got := range []Role{c.r.Cap(c.limit), c.limit.Cap(c.r)} {
			if got != c.want {
				t.Errorf("%q capped by %q = %q, want %q", c.r, c.limit, got, c.want)
			}
		}
	}
}
