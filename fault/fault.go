// Package fault names the kinds of error the coordinator answers with (not
// found, conflict, invalid input, forbidden, unavailable, ...), so that
// each HTTP edge, the control API and the admin UI and API alike, turns an
// error into a status in one place without knowing which part failed.
// The coordinator marks its errors with a Kind where it makes them; the
// edges read it with KindOf and answer Kind.HTTPStatus.
package fault

import (
	"errors"
	"net/http"
	"strconv"
)

// Kind is what went wrong, as the caller can act on it. When an error's
// chain holds errors of several kinds, the greatest Kind wins: the
// constants run from the least to the most decisive, so that a caller is
// told "unavailable, retry" before "unauthenticated", that before
// "forbidden", and a refusal before a missing record.
type Kind uint8

// The kinds, least decisive first.
const (
	// Internal is an error of no known kind: a fault of the server,
	// whose details stay in its logs.
	Internal Kind = iota
	// Invalid is bad input from the caller.
	Invalid
	// Conflict is a write that lost to another (a stale parent version,
	// a name or email taken).
	Conflict
	// NotFound is an unknown node, user, key, login or version.
	NotFound
	// RateLimited is a caller past its limit; it may retry later.
	RateLimited
	// TooLarge is a request body over the limit.
	TooLarge
	// UpgradeRequired is a caller too old to be served (a node speaking a
	// protocol version the coordinator no longer accepts).
	UpgradeRequired
	// Forbidden is a known caller refused (a revoked key, a disabled
	// person, a missing role).
	Forbidden
	// Unauthenticated is a missing or unknown credential.
	Unauthenticated
	// Unavailable is a server that cannot serve now (its storage is down,
	// full or busy, or a part is not configured); the caller may retry.
	Unavailable
)

var kindNames = [...]string{Internal: "internal", Invalid: "invalid", Conflict: "conflict", NotFound: "not found",
	RateLimited: "rate limited", TooLarge: "too large", UpgradeRequired: "upgrade required", Forbidden: "forbidden", Unauthenticated: "unauthenticated",
	Unavailable: "unavailable"}

// String names k.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

var kindStatus = [...]int{Internal: http.StatusInternalServerError, Invalid: http.StatusBadRequest,
	Conflict: http.StatusConflict, NotFound: http.StatusNotFound, RateLimited: http.StatusTooManyRequests,
	TooLarge: http.StatusRequestEntityTooLarge, UpgradeRequired: http.StatusUpgradeRequired, Forbidden: http.StatusForbidden,
	Unauthenticated: http.StatusUnauthorized, Unavailable: http.StatusServiceUnavailable}

// HTTPStatus is the status the HTTP edges answer an error of kind k with.
// It is the one table from kinds to statuses.
func (k Kind) HTTPStatus() int {
	if int(k) < len(kindStatus) {
		return kindStatus[k]
	}
	return http.StatusInternalServerError
}

// Error is an error of a Kind.
type Error struct {
	// Kind is what went wrong.
	Kind Kind
	// Msg, when not empty, is the error's text instead of Err's: a
	// message fit for the caller that hides Err's details (a database
	// driver's words), which stay in the chain for errors.Is and the logs.
	Msg string
	// Err is the error itself; never nil.
	Err error
}

// Error returns Msg, or Err's text.
func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Err.Error()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with text msg; sentinel errors are made
// with it.
func New(k Kind, msg string) error { return &Error{Kind: k, Err: errors.New(msg)} }

// Wrap returns err marked as of kind k, with err's text; nil stays nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// KindOf returns the kind of err: the greatest Kind of any Error in its
// chain (both Unwrap forms followed), or Internal when there is none.
func KindOf(err error) Kind {
	var k Kind
	if e, ok := err.(*Error); ok {
		k = e.Kind
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		k = max(k, KindOf(u.Unwrap()))
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			k = max(k, KindOf(e))
		}
	}
	return k
}
