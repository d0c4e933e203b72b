// Package admin is the vocabulary of Ward's admin plane, shared by the
// coordinator, which carries out fleet operations, and the front ends that
// ask for them (the web UI and JSON API, package web): the roles and what
// each permits (Perm), the principal behind a request, the person an admin
// login authenticated, and audit queries. It imports nothing of Ward's, so
// that neither side imports the other.
package admin

import "time"

// Principal is who makes a request.
type Principal struct {
	// Actor names the principal in the audit log ("user:alice@x",
	// "apikey:wak_ab12").
	Actor string `json:"actor"`
	// Email is the person's email; empty for an API key.
	Email string `json:"email,omitempty"`
	// Role is what the principal may do (see Perm); RoleNone may do
	// nothing.
	Role Role `json:"role"`
	// User is the backend's reference to the person on whose authority
	// the principal acts (Identity.User): the person logged in, or the
	// person who made the API key. Empty for the system's API keys, or
	// when the backend keeps no users. Keys the principal makes carry it
	// on.
	User string `json:"-"`
	// Scopes narrow an API key's rights below its Role (see ScopeRead);
	// nil for a UI session, whose role alone decides.
	Scopes []string `json:"scopes,omitempty"`
	// Auth is when and how the person behind a UI session last
	// authenticated at the IdP; zero for an API key.
	Auth Auth `json:"auth,omitzero"`
}

// Auth is an authentication at the IdP: its time (auth_time) and whether
// it showed a second factor (amr/acr).
type Auth struct {
	// Time is when the person authenticated; zero when unknown.
	Time time.Time `json:"time,omitzero"`
	// MFA tells that the authentication showed a second factor.
	MFA bool `json:"mfa,omitempty"`
}

// FreshMFA reports whether a was made with a second factor within window
// of now.
func (a Auth) FreshMFA(now time.Time, window time.Duration) bool {
	return a.MFA && !a.Time.IsZero() && now.Sub(a.Time) <= window
}

// AuditQuery selects audit events.
type AuditQuery struct {
	Since, Until time.Time
	Actor        string
	ActionPrefix string
	Target       string
	Limit        int
	// NewestFirst returns the newest events first (and Limit keeps the
	// newest); otherwise the oldest come first.
	NewestFirst bool
	// After, when set, selects the events appended after the one with
	// ID AfterID (0: from the first), in append order: how a collector
	// follows the log.
	After   bool
	AfterID int64
}

// Identity is the person an admin login authenticated.
type Identity struct {
	// User is the backend's stable reference to the person (the
	// coordinator's user id), handed back to the front end's SessionRole check; may be
	// empty when the backend keeps no users.
	User string
	// Email names the person in the audit log; never empty.
	Email string
	// Groups are the IdP groups, which map to a role.
	Groups []string
	// PolicyGroups are the groups of the running policy's "groups" that
	// list the email ("group:ops"), which map to a role too.
	PolicyGroups []string
	// Until is when the IdP session ends; zero means unknown.
	Until time.Time
	// Auth is when and how the person authenticated at this login.
	Auth Auth
}

// FlowQuery selects flow-log records, newest first.
type FlowQuery struct {
	// Node matches records reported by, from or to the node of that name.
	Node string
	// Since and Until bound a record's end.
	Since, Until time.Time
	// DeniedOnly selects denied flows only.
	DeniedOnly bool
	// Limit caps the number of records; 0 means no cap.
	Limit int
}
