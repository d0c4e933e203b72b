package control

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors returned by the Client.
var (
	// ErrUnauthorized means the coordinator refused the session token or
	// the machine key (HTTP 401 after a fresh session).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInsecureURL means the coordinator URL is plain HTTP to a host that
	// is not loopback, or plain HTTP without Config.AllowInsecureHTTP.
	ErrInsecureURL = errors.New("coordinator url must be https (plain http only on loopback with the dev flag)")
	// ErrProtocol means the coordinator sent something this client cannot
	// read: a malformed or oversized message.
	ErrProtocol = errors.New("control protocol error")
)

// APIError is an error response from the coordinator: a non-2xx status
// and the message of its wire.Error body.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the coordinator's message; may be empty.
	Message string
}

// Error formats e as "STATUS TEXT: MESSAGE".
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Is makes errors.Is(err, ErrUnauthorized) true for a 401.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.Status == http.StatusUnauthorized
}

// Permanent reports whether retrying the same request cannot help: a 4xx
// other than 401 (which a new session may fix), 408 and 429.
func (e *APIError) Permanent() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// IsPermanent reports whether err is an APIError that retrying cannot fix.
func IsPermanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Permanent()
}
