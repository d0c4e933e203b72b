package localapi

import (
	"errors"
	"testing"
)

// TestWindowsStateDirAccessListTrustsOnlyTheUser pins the Windows side of
// the local API's owner-only protection as it reads a state directory's
// or socket's security descriptor (the SDDL text GetNamedSecurityInfo
// gives): the user's own list passes, anything letting another user in,
// or owned by one, is refused.
func TestWindowsStateDirAccessListTrustsOnlyTheUser(t *testing.T) {
	const me = "S-1-5-21-1004336348-1177238915-682003330-1001"
	const other = "S-1-5-21-1004336348-1177238915-682003330-1002"
	tests := []struct {
		name string
		sddl string
		ok   bool
	}{
		{"the list Listen sets", "O:" + me + "D:P(A;OICI;FA;;;" + me + ")(A;OICI;FA;;;SY)", true},
		{"as the socket inherits it", "O:" + me + "G:" + me + "D:AI(A;ID;FA;;;" + me + ")(A;ID;FA;;;SY)", true},
		{"owned by the administrators", "O:BAD:P(A;OICI;FA;;;" + me + ")(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", true},
		{"owned by SYSTEM", "O:SYD:P(A;OICI;FA;;;SY)", true},
		{"a deny entry for everyone", "O:" + me + "D:P(D;;FA;;;WD)(A;OICI;FA;;;" + me + ")", true},
		{"owned by another user", "O:" + other + "D:P(A;OICI;FA;;;" + me + ")", false},
		{"no owner", "D:P(A;OICI;FA;;;" + me + ")", false},
		{"another user allowed in", "O:" + me + "D:P(A;OICI;FA;;;" + me + ")(A;OICI;FR;;;" + other + ")", false},
		{"everyone allowed in", "O:" + me + "D:(A;OICI;FA;;;" + me + ")(A;OICIID;0x1301bf;;;WD)", false},
		{"the users group, inherited from the profile", "O:" + me + "D:AI(A;OICIID;FA;;;" + me + ")(A;OICIID;0x1200a9;;;BU)", false},
		{"an object allow entry for another user", "O:" + me + "D:(OA;;CC;11111111-1111-1111-1111-111111111111;;" + other + ")", false},
		{"a null list: everyone", "O:" + me + "D:NO_ACCESS_CONTROL", false},
		{"no list at all", "O:" + me, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSDDL("state dir", `C:\Users\me\AppData\Local\Ward`, tt.sddl, me)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrUntrusted) {
				t.Fatalf("= %v, want ErrUntrusted", err)
			}
		})
	}
	if err := checkSDDL("state dir", "x", "O:"+me+userOnlyDACL(me), me); err != nil {
		t.Errorf("the list Listen sets, as written: %v", err)
	}
}

func TestSDDLPart(t *testing.T) {
	const sd = "O:S-1-5-21-1-2-3-1001G:SYD:P(A;OICI;FA;;;S-1-5-21-1-2-3-1001)(A;OICI;FA;;;SY)S:(AU;SA;FA;;;WD)"
	for k, want := range map[byte]string{
		'O': "S-1-5-21-1-2-3-1001",
		'G': "SY",
		'D': "P(A;OICI;FA;;;S-1-5-21-1-2-3-1001)(A;OICI;FA;;;SY)",
		'S': "(AU;SA;FA;;;WD)",
	} {
		if got := sddlPart(sd, k); got != want {
			t.Errorf("sddlPart(%c) = %q, want %q", k, got, want)
		}
	}
	if got := sddlPart("O:BAD:P", 'G'); got != "" {
		t.Errorf("missing part = %q", got)
	}
	if got := sddlPart("O:BAD:P", 'O'); got != "BA" {
		t.Errorf("owner alias = %q", got)
	}
}
