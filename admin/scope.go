package admin

import (
	"fmt"
	"slices"
	"strings"
)

// Scopes of an API key: set when it is made, they narrow what the key may
// do below its role (Principal.Scopes). Every scope reads; the others add
// one right of the role matrix each, and ScopeAdmin adds them all:
//
//	scope    adds
//	read     (reading only)
//	policy   PermPolicy: save and roll back the policy
//	fleet    PermFleet: devices, pre-auth keys, users, access requests
//	apikeys  PermAPIKeys: make and revoke API keys
//	admin    every right of the key's role
//
// Keys made before scopes existed have ScopeAdmin, so they keep the
// rights they had; a key made without scopes has ScopeRead only.
const (
	ScopeRead    = "read"
	ScopePolicy  = "policy"
	ScopeFleet   = "fleet"
	ScopeAPIKeys = "apikeys"
	ScopeAdmin   = "admin"
)

// scopePerms is what each scope permits.
var scopePerms = map[string][]Perm{
	ScopeRead:    {PermRead},
	ScopePolicy:  {PermRead, PermPolicy},
	ScopeFleet:   {PermRead, PermFleet},
	ScopeAPIKeys: {PermRead, PermAPIKeys},
	ScopeAdmin:   {PermRead, PermPolicy, PermFleet, PermAPIKeys},
}

// AllScopes lists the scopes, for help texts and errors.
var AllScopes = []string{ScopeRead, ScopePolicy, ScopeFleet, ScopeAPIKeys, ScopeAdmin}

// CheckScopes validates an API key's scopes and returns them sorted and
// without duplicates; none is ScopeRead alone.
func CheckScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return []string{ScopeRead}, nil
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if _, ok := scopePerms[s]; !ok {
			return nil, fmt.Errorf("unknown API key scope %q (known: %s)", s, strings.Join(AllScopes, ", "))
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ScopesAllow reports whether scopes permit p; nil scopes (a UI session,
// not an API key) permit everything, leaving it to the role.
func ScopesAllow(scopes []string, p Perm) bool {
	if scopes == nil {
		return true
	}
	return slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(scopePerms[s], p) })
}

// ScopesWithin reports whether every right of want is among have's: a key
// made with an API key gets no scope its maker lacks. Nil have (a UI
// session) holds every scope.
func ScopesWithin(want, have []string) bool {
	for _, p := range []Perm{PermRead, PermPolicy, PermFleet, PermAPIKeys} {
		if ScopesAllow(want, p) && !ScopesAllow(have, p) {
			return false
		}
	}
	return true
}
