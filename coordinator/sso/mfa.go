package sso

import (
	"fmt"
	"strconv"
)

// checkMFA refuses a login that must show a second factor and does not:
// none of amr is in the MFA methods, and acr does not reach MinACR.
func (s *settings) checkMFA(groups, amr []string, acr string) error {
	why, required := s.mfaRequired(groups)
	if !required || s.secondFactor(amr, acr) {
		return nil
	}
	return fmt.Errorf("%w: %s, but the identity provider reports amr %q and acr %q; log in again with a second factor",
		ErrMFARequired, why, amr, acr)
}

// secondFactor reports whether amr or acr show a second factor: one of amr
// is in the MFA methods, or acr reaches MinACR.
func (s *settings) secondFactor(amr []string, acr string) bool {
	for _, m := range amr {
		if s.mfaMethods[m] {
			return true
		}
	}
	return s.MinACR != "" && acrAtLeast(acr, s.MinACR)
}

// mfaRequired says whether a user in groups must show a second factor, and
// why.
func (s *settings) mfaRequired(groups []string) (string, bool) {
	if s.RequireMFA {
		return "this coordinator requires it for every login", true
	}
	for _, g := range groups {
		if s.mfaGroups[g] {
			return fmt.Sprintf("group %q requires it", g), true
		}
	}
	return "", false
}

// acrAtLeast compares acr levels: as integers when both are, else for
// equality.
func acrAtLeast(got, min string) bool {
	g, err1 := strconv.Atoi(got)
	m, err2 := strconv.Atoi(min)
	if err1 == nil && err2 == nil {
		return g >= m
	}
	return got != "" && got == min
}
