package admin

import (
	"context"
	"time"
)

// Session is one admin UI login, as a SessionStore keeps it.
type Session struct {
	// Principal is who the session acts as; its User is the next field.
	Principal Principal
	// User is the backend's reference to the person (Identity.User).
	User string
	// Groups are the person's IdP groups at login.
	Groups []string
	// CSRF is the token every state-changing request must carry.
	CSRF string
	// Expires is when the session ends.
	Expires time.Time
}

// SessionKey names a session in a SessionStore: the SHA-256 of its cookie
// value, so that a store never holds a usable cookie.
type SessionKey [32]byte

// SessionStore keeps the admin UI's sessions. The web UI calls it on every
// request with a session cookie and at each login and logout; the
// coordinator's keeps them in its database, so that every coordinator on
// it knows them. Methods may block on the database.
type SessionStore interface {
	// PutSession stores s under k.
	PutSession(ctx context.Context, k SessionKey, s Session) error
	// Session returns the session under k if it exists and has not
	// expired by now; ok is false otherwise.
	Session(ctx context.Context, k SessionKey, now time.Time) (s Session, ok bool, err error)
	// DeleteSession ends the session under k.
	DeleteSession(ctx context.Context, k SessionKey) error
	// DeleteSessionsOf ends every session of the person whose User is user
	// (or, when user is empty, whose email is email) and returns how many.
	DeleteSessionsOf(ctx context.Context, user, email string) (int, error)
}
