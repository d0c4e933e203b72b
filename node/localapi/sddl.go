package localapi

import (
	"fmt"
	"strings"
)

// The Windows side of the local API's protection is an access list,
// read and written as SDDL text (the Security Descriptor Definition
// Language): the string functions below are plain Go, so they are tested
// on every OS, and private_windows.go only moves the text to and from the
// file system.

// trustedSDDL are the SIDs (or their SDDL aliases) trusted besides the
// user: SYSTEM and the Administrators group, root's counterparts, and the
// placeholders for the object's owner (who must be trusted) and its
// creator (who could write there already).
var trustedSDDL = map[string]bool{"SY": true, "S-1-5-18": true, "BA": true, "S-1-5-32-544": true, "OW": true, "CO": true}

// userOnlyDACL is the access list the state directory gets on Windows:
// protected (nothing inherited from the profile above it), full access
// for the user sid and SYSTEM alone, inherited by what the directory
// holds (the socket, the state files).
func userOnlyDACL(user string) string {
	return "D:P(A;OICI;FA;;;" + user + ")(A;OICI;FA;;;SY)"
}

// checkSDDL refuses sddl, the owner and access list of what at path, when
// its owner is neither user nor trusted, when it has no access list (a
// null DACL lets everyone in), or when an entry allows anyone else in.
func checkSDDL(what, path, sddl, user string) error {
	if err := checkOwnerSDDL(what, path, sddl, user); err != nil {
		return err
	}
	trusted := func(sid string) bool { return sid == user || trustedSDDL[sid] }
	dacl := sddlPart(sddl, 'D')
	if !strings.Contains(dacl, "(") {
		return fmt.Errorf("%s %s has no access list (%q): anyone may use it: %w", what, path, dacl, ErrUntrusted)
	}
	for ace := range strings.SplitSeq(dacl[strings.Index(dacl, "("):], "(") {
		f := strings.Split(strings.TrimSuffix(ace, ")"), ";")
		if len(f) < 6 || !strings.HasSuffix(f[0], "A") {
			continue // empty, or not an allow entry (A, OA, XA, ZA)
		}
		if !trusted(f[5]) {
			return fmt.Errorf("%s %s lets %s in (%s): %w", what, path, f[5], ace, ErrUntrusted)
		}
	}
	return nil
}

// checkOwnerSDDL refuses sddl, the security descriptor of what at path,
// when its owner is neither user nor trusted.
func checkOwnerSDDL(what, path, sddl, user string) error {
	if owner := sddlPart(sddl, 'O'); owner == "" || owner != user && !trustedSDDL[owner] {
		return fmt.Errorf("%s %s is owned by %q: %w", what, path, owner, ErrUntrusted)
	}
	return nil
}

// sddlPart returns the part of sddl after "K:" (K one of O, G, D, S) up
// to the next part, "" when there is none.
func sddlPart(sddl string, k byte) string {
	depth, start := 0, -1
	for i := 0; i < len(sddl); i++ {
		switch c := sddl[i]; {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && i+1 < len(sddl) && sddl[i+1] == ':' && strings.IndexByte("OGDS", c) >= 0:
			if start >= 0 {
				return sddl[start:i]
			}
			if c == k {
				start = i + 2
			}
			i++
		}
	}
	if start >= 0 {
		return sddl[start:]
	}
	return ""
}
