package devidp

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Authentication method references (RFC 8176) put in the amr claim.
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
)

// authRequest is one authorization request and its login progress. The
// storage keeps the original under its lock and hands out copies, so the
// op package never reads a value that a login handler is changing.
type authRequest struct {
	id           string
	created      time.Time
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge

	// binding is the value of the cookie that ties the login form to the
	// browser that opened it; empty until the form is shown.
	binding string
	// pwdUser is the username whose password was right and who still owes
	// a one-time code; empty otherwise.
	pwdUser string
	// attempts counts failed password and code entries.
	attempts int
	// subject, amr and authTime are set when the login is done.
	subject  string
	amr      []string
	authTime time.Time
	done     bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func newAuthRequest(id string, r *oidc.AuthRequest, now time.Time) *authRequest {
	return &authRequest{
		id:           id,
		created:      now,
		clientID:     r.ClientID,
		redirectURI:  r.RedirectURI,
		state:        r.State,
		nonce:        r.Nonce,
		scopes:       append([]string(nil), r.Scopes...),
		responseType: r.ResponseType,
		responseMode: r.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
	}
}

// clone returns a copy safe to hand out; slices are never changed in place.
func (a *authRequest) clone() *authRequest {
	c := *a
	return &c
}

// GetID returns the request id.
func (a *authRequest) GetID() string { return a.id }

// GetACR returns no acr: the provider does not claim an assurance level.
func (a *authRequest) GetACR() string { return "" }

// GetAMR returns ["pwd"] or ["pwd","otp"] once the login is done.
func (a *authRequest) GetAMR() []string { return a.amr }

// GetAudience is the client id.
func (a *authRequest) GetAudience() []string { return []string{a.clientID} }

// GetAuthTime is when the login was completed.
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }

// GetClientID returns the client id.
func (a *authRequest) GetClientID() string { return a.clientID }

// GetCodeChallenge returns the PKCE challenge (always S256).
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }

// GetNonce returns the nonce the client sent.
func (a *authRequest) GetNonce() string { return a.nonce }

// GetRedirectURI returns the redirect URI the client sent.
func (a *authRequest) GetRedirectURI() string { return a.redirectURI }

// GetResponseType returns the response type (code).
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.responseType }

// GetResponseMode returns the response mode the client sent.
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.responseMode }

// GetScopes returns the granted scopes.
func (a *authRequest) GetScopes() []string { return a.scopes }

// GetState returns the client's state.
func (a *authRequest) GetState() string { return a.state }

// GetSubject returns the logged-in user's subject.
func (a *authRequest) GetSubject() string { return a.subject }

// Done reports whether the user has finished logging in.
func (a *authRequest) Done() bool { return a.done }
