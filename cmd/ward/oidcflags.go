//go:build !ward_omit_coordinator

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator/sso"
)

// oidcFlags are the coordinator's identity-provider flags. The client
// secret comes from a file or an environment variable, never from a flag
// that ps would show.
type oidcFlags struct {
	issuer, clientID, secretFile, secretEnv, groupsClaim, minACR, caFile string
	scopes, domains, mfaGroups                                           []string
	requireMFA, refresh, trustUnverifiedEmail                            bool
	groupTTL                                                             map[string]string
	adminRoles                                                           []string
	refreshEvery                                                         time.Duration
}

// Bounds of --oidc-refresh-interval: more often than minRefreshEvery loads
// the IdP for little; less often than maxRefreshEvery leaves a person the
// IdP dropped connected for most of a key's life.
const (
	minRefreshEvery = 30 * time.Second
	maxRefreshEvery = 24 * time.Hour
)

func (o *oidcFlags) register(f *pflag.FlagSet) {
	f.StringVar(&o.issuer, "oidc-issuer", "", "OIDC issuer URL of the company identity provider")
	f.StringVar(&o.clientID, "oidc-client-id", "", "OIDC client id")
	f.StringVar(&o.secretFile, "oidc-client-secret-file", "", "file holding the OIDC client secret")
	f.StringVar(&o.secretEnv, "oidc-client-secret-env", "", "environment variable holding the OIDC client secret")
	f.StringSliceVar(&o.scopes, "oidc-scopes", nil, "OIDC scopes to request (default openid,email,profile, plus groups unless the IdP's discovery document lists its scopes without it)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM CA certificates that verify the identity provider's TLS certificate for discovery, token and JWKS (default: the system's)")
	f.StringSliceVar(&o.domains, "oidc-allowed-domains", nil, "email domains allowed to log in (default: any)")
	f.StringVar(&o.groupsClaim, "oidc-groups-claim", "", "ID token claim carrying groups (default groups)")
	f.BoolVar(&o.trustUnverifiedEmail, "oidc-trust-unverified-email", false, "accept ID tokens without an email_verified claim, for IdPs that never send it (an explicit false is still refused)")
	f.BoolVar(&o.requireMFA, "require-mfa", false, "refuse logins without a second factor")
	f.BoolVar(&o.refresh, "oidc-refresh", false, "ask for refresh tokens (offline_access) and cut a person's keys when the IdP refuses a refresh")
	f.DurationVar(&o.refreshEvery, "oidc-refresh-interval", 0, fmt.Sprintf("how often --oidc-refresh asks the IdP again about each person with a live key (default 5m; %v to %v)", minRefreshEvery, maxRefreshEvery))
	f.StringSliceVar(&o.mfaGroups, "mfa-groups", nil, "groups whose members must use a second factor")
	f.StringVar(&o.minACR, "min-acr", "", "minimum acr that counts as a second factor")
}

// apply fills cfg's identity-provider settings from the flags.
func (o *oidcFlags) apply(cfg *assembly.Config) error {
	if len(o.adminRoles) > 0 {
		roles, legacy, err := parseAdminRoles(o.adminRoles)
		if err != nil {
			return err
		}
		for _, l := range legacy {
			g, r, _ := strings.Cut(l, "=")
			warn(cfg, fmt.Sprintf("--admin-role %s is the old GROUP=ROLE form; write %s=idp:%s", l, r, g))
		}
		cfg.AdminRoles = roles
	}
	if err := o.applyRefreshEvery(cfg); err != nil {
		return err
	}
	for g, v := range o.groupTTL {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("--group-key-ttl %s=%s: not a positive duration", g, v)
		}
		if cfg.GroupKeyTTL == nil {
			cfg.GroupKeyTTL = map[string]time.Duration{}
		}
		cfg.GroupKeyTTL[g] = d
	}
	if o.issuer == "" {
		if o.caFile != "" {
			return fmt.Errorf("--ca-file verifies the identity provider of --oidc-issuer, which is not set")
		}
		cfg.DevRequireMFA, cfg.DevMFAGroups = o.requireMFA, o.mfaGroups
		return nil
	}
	redirect := cfg.PublicURL
	if redirect == "" {
		return fmt.Errorf("--oidc-issuer needs --public-url (the redirect URI is PUBLIC_URL/ward/v1/oidc/callback)")
	}
	cfg.OIDC = &sso.Config{Issuer: o.issuer, ClientID: o.clientID, ClientSecretFile: o.secretFile, ClientSecretEnv: o.secretEnv,
		RedirectURL: redirect + "/ward/v1/oidc/callback", Scopes: o.scopes, AllowedDomains: o.domains,
		GroupsClaim: o.groupsClaim, RequireMFA: o.requireMFA, MFAGroups: o.mfaGroups, MinACR: o.minACR, Refresh: o.refresh,
		TrustUnverifiedEmail: o.trustUnverifiedEmail, CAFile: o.caFile}
	return nil
}

// applyRefreshEvery checks --oidc-refresh-interval against its bounds and
// sets it. The dev provider always refreshes; a real IdP needs
// --oidc-refresh.
func (o *oidcFlags) applyRefreshEvery(cfg *assembly.Config) error {
	switch d := o.refreshEvery; {
	case d == 0:
		return nil
	case d < minRefreshEvery || d > maxRefreshEvery:
		return fmt.Errorf("--oidc-refresh-interval %v: must be from %v to %v", d, minRefreshEvery, maxRefreshEvery)
	case o.issuer != "" && !o.refresh:
		return fmt.Errorf("--oidc-refresh-interval has no effect without --oidc-refresh")
	}
	cfg.RefreshEvery = o.refreshEvery
	return nil
}

// warn logs msg on cfg's logger, if it has one.
func warn(cfg *assembly.Config, msg string) {
	if cfg.Logger != nil {
		cfg.Logger.Warn(msg)
	}
}
