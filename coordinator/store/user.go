package store

import (
	"context"
	"time"
)

// UserID identifies a user. 0 means "no user".
type UserID int64

// User is a person known through the identity provider.
type User struct {
	// ID is assigned by the store.
	ID UserID
	// Issuer and Subject are the OIDC iss and sub claims; together unique.
	Issuer  string
	Subject string
	// Email and DisplayName are for display; may be empty.
	Email       string
	DisplayName string
	// Groups come from the IdP's groups claim; sorted, without duplicates.
	Groups []string
	// Disabled users may not log in or register nodes.
	Disabled bool
	// CreatedAt is when the user first logged in.
	CreatedAt time.Time
	// LastLogin is when the user last logged in; zero if never.
	LastLogin time.Time
	// AuthTime is when the IdP last authenticated the user at a login
	// (auth_time); MFATime when it last did with a second factor. Zero
	// when unknown.
	AuthTime, MFATime time.Time
}

// Identity is what a login tells about a user.
type Identity struct {
	// Issuer and Subject are the iss and sub claims; required.
	Issuer  string
	Subject string
	// Email and DisplayName may be empty.
	Email       string
	DisplayName string
	// Groups is the groups claim; may be empty.
	Groups []string
	// AuthTime is when the IdP authenticated the user for this login, and
	// MFA whether it did with a second factor; zero (a refresh, not a
	// login) keeps the recorded times.
	AuthTime time.Time
	MFA      bool
}

// Users manages users; the SSO login and the admin API call it.
type Users interface {
	// UpsertUser records a login at now: it creates the user for
	// id.Issuer+id.Subject or updates its email, name and groups, and sets
	// LastLogin. It does not change Disabled; the caller checks it. A
	// non-empty email names one user only: when another user (another
	// issuer or subject) has id.Email, it changes nothing and fails with
	// ErrEmailBound, until an admin decides with RebindEmail.
	UpsertUser(ctx context.Context, id Identity, now time.Time) (User, error)
	// UsersByEmail returns the users whose email is email (compared
	// without case), ordered by ID; empty when none.
	UsersByEmail(ctx context.Context, email string) ([]User, error)
	// RebindEmail binds email to the user issuer+subject, creating it (as
	// never logged in) if needed, and unbinds it from every other user
	// having it: their email is cleared and they are disabled. It returns
	// the users unbound and the user now holding email. email must not
	// be empty (ErrInvalid). check (when not nil) vets, in the write, the
	// users to be unbound as they are, the user issuer+subject as it is
	// (when it exists) and as it will be.
	RebindEmail(ctx context.Context, email, issuer, subject string, now time.Time, check UserCheck) (unbound []User, to User, err error)
	// User returns the user with the given ID (ErrNotFound).
	User(ctx context.Context, id UserID) (User, error)
	// UserBySubject returns the user with the given issuer and subject.
	UserBySubject(ctx context.Context, issuer, subject string) (User, error)
	// ListUsers returns every user, ordered by ID.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserDisabled disables or re-enables a user.
	SetUserDisabled(ctx context.Context, id UserID, disabled bool) error
	// MigrateIssuer moves every user of issuer from to issuer to, each
	// keeping its id, subject, email, nodes and keys, and returns them as
	// they are (or, with dryRun, would be) after the move; with dryRun it
	// changes nothing. When a user of to already has the subject of a
	// user of from, it changes nothing and fails with ErrConflict naming
	// them; from and to must differ and not be empty (ErrInvalid). check
	// (when not nil) vets, in the write, dry run or not, the users to move
	// as they are.
	MigrateIssuer(ctx context.Context, from, to string, dryRun bool, check UserCheck) ([]User, error)
}

// UserCheck vets, inside a write, the users the write is about to change:
// an error changes nothing and is returned, wrapped. It must not use the
// store. Rules whose subjects a concurrent write could change (who holds
// an email, who belongs to an issuer) are checked here, not before.
type UserCheck func(users []User) error
