package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/fault"
)

// Sentinel errors of the web layer's own refusals, each of a fault.Kind. A
// Backend's errors carry their kind the same way (the coordinator marks
// its own), or acl problems; StatusOf maps them.
var (
	// ErrBadRequest is bad input: 400.
	ErrBadRequest = fault.New(fault.Invalid, "bad request")
	// ErrUnauthorized is missing or unknown credentials: 401.
	ErrUnauthorized = fault.New(fault.Unauthenticated, "missing or invalid credentials")
	// ErrStepUp refuses a fleet-changing action of a UI session whose
	// login is too old or showed no second factor (see checkStepUp): 401.
	ErrStepUp = fault.New(fault.Unauthenticated, "this action needs a recent login with a second factor")
	// ErrForbidden is a refused principal (role, expired or revoked API
	// key, missing CSRF token): 403.
	ErrForbidden = fault.New(fault.Forbidden, "forbidden")
	// ErrNotFound is an unknown node, user, key or version: 404.
	ErrNotFound = fault.New(fault.NotFound, "not found")
	// ErrConflict is a stale write, such as a policy saved from an old
	// parent version: 409.
	ErrConflict = fault.New(fault.Conflict, "conflict")
	// ErrTooLarge is a request body over the limit: 413.
	ErrTooLarge = fault.New(fault.TooLarge, "request too large")
	// ErrUnavailable is a backend that cannot serve the request now (its
	// storage is down, full or busy): 503, and the client may retry.
	ErrUnavailable = fault.New(fault.Unavailable, "storage unavailable; try again later")
	// ErrNoLogin is a UI login attempted while no Login is configured: 503.
	ErrNoLogin = fault.New(fault.Unavailable, "SSO login is not configured on this coordinator; use an API key")
)

// StatusOf maps an error to its HTTP status. It is the one place in this
// package where errors meet status codes: an error of a fault.Kind gets
// that kind's status, one carrying only acl problems is a 400, echo's own
// errors keep theirs, and anything else is a 500.
func StatusOf(err error) int {
	var he *echo.HTTPError
	switch k := fault.KindOf(err); {
	case k != fault.Internal:
		return k.HTTPStatus()
	case acl.Problems(err) != nil:
		return http.StatusBadRequest
	case errors.As(err, &he):
		return he.Code
	}
	return http.StatusInternalServerError
}

// publicMessage is what a client is told about err: its text, except for
// internal errors, whose details stay in the log.
func publicMessage(err error, code int) string {
	if code >= 500 && code != http.StatusServiceUnavailable {
		return "internal error"
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if s, ok := he.Message.(string); ok {
			return s
		}
		return http.StatusText(he.Code)
	}
	return err.Error()
}
