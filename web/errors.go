package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/acl"
)

// Sentinel errors. A Backend wraps one of them (fmt.Errorf("%w: …", …)) to
// tell the web layer which HTTP status an error deserves; StatusOf maps them.
var (
	// ErrBadRequest is bad input: 400.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized is missing or unknown credentials: 401.
	ErrUnauthorized = errors.New("missing or invalid credentials")
	// ErrForbidden is a refused principal (role, expired or revoked API
	// key, missing CSRF token): 403.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound is an unknown node, user, key or version: 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict is a stale write, such as a policy saved from an old
	// parent version: 409.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge is a request body over the limit: 413.
	ErrTooLarge = errors.New("request too large")
	// ErrUnavailable is a backend that cannot serve the request now (its
	// storage is down, full or busy): 503, and the client may retry.
	ErrUnavailable = errors.New("storage unavailable; try again later")
	// ErrNoLogin is a UI login attempted while no Login is configured: 503.
	ErrNoLogin = errors.New("SSO login is not configured on this coordinator; use an API key")
)

// StatusOf maps an error to its HTTP status. It is the one place where
// errors meet status codes; an error carrying acl problems is a 400.
func StatusOf(err error) int {
	var he *echo.HTTPError
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest), acl.Problems(err) != nil:
		return http.StatusBadRequest
	case errors.Is(err, ErrNoLogin), errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
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
