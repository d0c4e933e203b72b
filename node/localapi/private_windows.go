package localapi

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// privateDir makes dir, the state directory the socket is bound in, this
// user's own before anything is bound there: an access list for the user
// and SYSTEM alone (userOnlyDACL), not inherited from the profile, which
// the socket and the state files then inherit. It refuses a directory
// whose owner is neither the user nor SYSTEM or the Administrators: they
// could replace the socket.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make state dir: %w", err)
	}
	user, err := currentUserSID()
	if err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := checkOwnerSDDL("state dir", dir, sd.String(), user); err != nil {
		return err
	}
	want, err := windows.SecurityDescriptorFromString(userOnlyDACL(user))
	if err != nil {
		return fmt.Errorf("restrict state dir: %w", err)
	}
	dacl, _, err := want.DACL()
	if err != nil {
		return fmt.Errorf("restrict state dir: %w", err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, info, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("restrict state dir %s: %w", dir, err)
	}
	return nil
}

// restrictSocket has nothing to do: the socket inherited the state
// directory's access list when it was bound.
func restrictSocket(string) error { return nil }

// checkFile refuses the file at path (what) when its owner is not
// trusted or its access list lets anyone but the user, SYSTEM and the
// Administrators in (checkSDDL).
func checkFile(what, path string, _ os.FileInfo) error {
	user, err := currentUserSID()
	if err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	return checkSDDL(what, path, sd.String(), user)
}

// currentUserSID returns the SID of this process's user, as SDDL writes
// it.
func currentUserSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}
