package devidp

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// scopeGroups is the scope a client requests for the groups claim. As with
// Dex, the claim is sent only when it is requested.
const scopeGroups = "groups"

// client is a registered Client as the op package sees it.
type client struct {
	cfg      Client
	loginURL string
	lifetime time.Duration
}

var _ op.Client = (*client)(nil)

func newClient(c Client, s *settings) *client {
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	return &client{cfg: c, loginURL: s.issuer + loginPath, lifetime: s.tokenLifetime}
}

// GetID returns the client_id.
func (c *client) GetID() string { return c.cfg.ID }

// RedirectURIs returns the registered redirect URIs.
func (c *client) RedirectURIs() []string { return c.cfg.RedirectURIs }

// PostLogoutRedirectURIs returns none: logout redirects are not offered.
func (c *client) PostLogoutRedirectURIs() []string { return nil }

// ApplicationType is web for confidential clients and native for public ones.
func (c *client) ApplicationType() op.ApplicationType {
	if c.cfg.Secret == "" {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// AuthMethod is client_secret_basic, or none for a public client.
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.cfg.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes allows the authorization code flow only.
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes allows the authorization_code grant, and refresh_token for
// logins that asked for the offline_access scope.
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// LoginURL is the login form for the auth request id.
func (c *client) LoginURL(id string) string {
	return c.loginURL + "?" + url.Values{"id": {id}}.Encode()
}

// AccessTokenType is an opaque bearer token.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }

// IDTokenLifetime is the configured token lifetime.
func (c *client) IDTokenLifetime() time.Duration { return c.lifetime }

// DevMode allows http redirect URIs for web clients.
func (c *client) DevMode() bool { return true }

// RestrictAdditionalIdTokenScopes keeps every scope.
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// RestrictAdditionalAccessTokenScopes keeps every scope.
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed allows the groups scope besides the standard ones.
func (c *client) IsScopeAllowed(scope string) bool { return scope == scopeGroups }

// IDTokenUserinfoClaimsAssertion puts email, name and groups in the ID
// token, which relying parties such as Ward read them from.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

// ClockSkew is zero.
func (c *client) ClockSkew() time.Duration { return 0 }
