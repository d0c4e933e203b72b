package admin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoleOf(t *testing.T) {
	m := map[string]Role{"own": RoleOwner, "adm": RoleAdmin, "net": RoleNetworkAdmin, "it": RoleITAdmin, "aud": RoleAuditor}
	for _, c := range []struct {
		groups []string
		want   Role
	}{
		{nil, RoleNone},
		{[]string{"ops"}, RoleNone},
		{[]string{"aud"}, RoleAuditor},
		{[]string{"aud", "net"}, RoleNetworkAdmin},
		{[]string{"it", "aud"}, RoleITAdmin},
		{[]string{"net", "it"}, RoleAdmin},
		{[]string{"adm", "aud"}, RoleAdmin},
		{[]string{"net", "it", "own"}, RoleOwner},
		{[]string{"AUD"}, RoleNone}, // group names match exactly
	} {
		if got := RoleOf(c.groups, m); got != c.want {
			t.Errorf("RoleOf(%v) = %q, want %q", c.groups, got, c.want)
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
