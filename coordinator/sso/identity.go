package sso

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Identity is a person as the IdP vouched for them in a verified ID token.
// The coordinator keys users by Issuer and Subject and shows them by Email.
type Identity struct {
	// Issuer and Subject are the iss and sub claims; never empty.
	Issuer  string
	Subject string
	// Email is the email claim, lower-cased; empty if the IdP sent none
	// (only possible when no AllowedDomains are configured).
	Email string
	// Name is the name claim; may be empty.
	Name string
	// Groups are the strings of the configured groups claim, sorted and
	// without duplicates; empty if the claim is absent.
	Groups []string
	// AMR are the authentication methods the IdP reports (RFC 8176), for
	// example ["pwd", "otp"]; may be empty.
	AMR []string
	// ACR is the acr claim; may be empty.
	ACR string
	// Expiry is when the ID token expires.
	Expiry time.Time
	// AuthTime is when the person authenticated at the IdP: the auth_time
	// claim. It is zero when the IdP sent none: a token's issue time says
	// nothing about when the person last authenticated (an IdP session can
	// mint fresh tokens for days), so such a login never counts as recent
	// for step-up.
	AuthTime time.Time
	// MFA tells that AMR or ACR show a second factor (Config.MFAMethods,
	// Config.MinACR).
	MFA bool
}

// claims are the ID token claims read besides the standard ones.
type claims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Name          string          `json:"name"`
	AMR           []string        `json:"amr"`
	ACR           string          `json:"acr"`
	AuthTime      int64           `json:"auth_time"`
}

// identity reads idt's claims and applies the email and domain rules, and
// the MFA rule when mfa is set (a login; a refresh re-authenticates no one).
func (rp *RP) identity(idt *oidc.IDToken, mfa bool) (Identity, error) {
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: read claims: %w", ErrTokenInvalid, err)
	}
	groups, err := rp.groups(idt)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{
		Issuer: idt.Issuer, Subject: idt.Subject,
		Email: strings.ToLower(c.Email), Name: c.Name,
		Groups: groups, AMR: c.AMR, ACR: c.ACR, Expiry: idt.Expiry,
		MFA: rp.cfg.secondFactor(c.AMR, c.ACR),
	}
	if c.AuthTime > 0 {
		id.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	if id.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no sub claim", ErrTokenInvalid)
	}
	if err := rp.checkEmail(id.Email, c.EmailVerified); err != nil {
		return Identity{}, err
	}
	if !mfa {
		return id, nil
	}
	if err := rp.cfg.checkMFA(id.Groups, id.AMR, id.ACR); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// groups reads the configured groups claim.
func (rp *RP) groups(idt *oidc.IDToken) ([]string, error) {
	var all map[string]json.RawMessage
	if err := idt.Claims(&all); err != nil {
		return nil, fmt.Errorf("%w: read claims: %w", ErrTokenInvalid, err)
	}
	return parseGroups(rp.cfg.GroupsClaim, all[rp.cfg.GroupsClaim])
}

// parseGroups reads a groups claim: a list of strings, one string, null or
// absent (nil raw). It returns the groups sorted, without duplicates or
// empty strings.
func parseGroups(name string, raw json.RawMessage) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil, fmt.Errorf("%w: claim %q is neither a string nor a list of strings", ErrTokenInvalid, name)
		}
		list = []string{one}
	}
	list = slices.DeleteFunc(list, func(g string) bool { return g == "" })
	if len(list) == 0 {
		return nil, nil
	}
	slices.Sort(list)
	return slices.Compact(list), nil
}

// checkEmail refuses an email the IdP does not say is verified (unless the
// claim is absent and Config.TrustUnverifiedEmail), and one outside the
// allowed domains. The email names the person in the policy, so an
// unverified one could borrow someone else's grants.
func (rp *RP) checkEmail(email string, verified json.RawMessage) error {
	switch v := strings.Trim(string(verified), `"`); {
	case v == "true":
	case (v == "" || v == "null") && rp.cfg.TrustUnverifiedEmail:
	case v == "" || v == "null":
		return fmt.Errorf("%w: %q: the identity provider did not say it is verified (no email_verified claim); "+
			"if it never sends that claim, the coordinator must be set to trust unverified email", ErrEmailUnverified, email)
	default:
		return fmt.Errorf("%w: %q", ErrEmailUnverified, email)
	}
	if len(rp.cfg.domains) == 0 {
		return nil
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return fmt.Errorf("%w: the identity provider sent no email address", ErrDomainNotAllowed)
	}
	if domain := email[at+1:]; !rp.cfg.domains[domain] {
		return fmt.Errorf("%w: %q is not in %s", ErrDomainNotAllowed, domain, rp.allowedDomains())
	}
	return nil
}

func (rp *RP) allowedDomains() string {
	ds := make([]string, 0, len(rp.cfg.domains))
	for d := range rp.cfg.domains {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return strings.Join(ds, ", ")
}
