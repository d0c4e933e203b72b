package control

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Errors returned by the Client.
var (
	// ErrUnauthorized means the coordinator refused the session token or
	// the machine key (HTTP 401 after a fresh session).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the coordinator refuses what this node asks
	// (HTTP 403): for a rotation, an admin expired or removed the node,
	// or its owner may no longer connect. The APIError's Message says
	// why; asking again soon cannot help.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited means the coordinator asks the node to call less
	// often (HTTP 429); the APIError's RetryAfter says for how long when
	// the coordinator said.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnreachable means no answer came from the coordinator: no
	// connection, a TLS failure or a timeout. An error answer (an
	// APIError, 5xx included) means the coordinator was reached.
	ErrUnreachable = errors.New("coordinator unreachable")
	// ErrInsecureURL means the coordinator URL is plain HTTP to a host that
	// is not loopback, or plain HTTP without Config.AllowInsecureHTTP.
	ErrInsecureURL = errors.New("coordinator url must be https (plain http only on loopback with the dev flag)")
	// ErrUpgradeRequired means the coordinator no longer serves this
	// node's protocol version (HTTP 426); the APIError's Message names the
	// version it needs. Only a newer Ward helps.
	ErrUpgradeRequired = errors.New("upgrade required")
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
	// RetryAfter is the wait the coordinator asked for in a Retry-After
	// header (with 429 or 503); zero when it did not.
	RetryAfter time.Duration
}

// Error formats e as "STATUS TEXT: MESSAGE", and a server error (5xx) as
// "coordinator error: STATUS TEXT: MESSAGE": the coordinator was reached
// but failed.
func (e *APIError) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status >= 500 {
		s = "coordinator error: " + s
	}
	return s
}

// Is makes errors.Is(err, ErrUnauthorized) true for a 401,
// errors.Is(err, ErrForbidden) for a 403, errors.Is(err, ErrRateLimited)
// for a 429 and errors.Is(err, ErrUpgradeRequired) for a 426.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUpgradeRequired:
		return e.Status == http.StatusUpgradeRequired
	}
	return false
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

// Refusal returns the coordinator's reason when err is a 403 answer
// (ErrForbidden), and ok false otherwise.
func Refusal(err error) (reason string, ok bool) {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		return "", false
	}
	if ae.Message == "" {
		return http.StatusText(ae.Status), true
	}
	return ae.Message, true
}

// RetryAfter returns the wait a 429 (or 503) answer asked for, and ok
// false when err is not such an answer or it named no wait.
func RetryAfter(err error) (time.Duration, bool) {
	var ae *APIError
	if !errors.As(err, &ae) || ae.RetryAfter <= 0 {
		return 0, false
	}
	return ae.RetryAfter, true
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an
// HTTP-date (RFC 9110 §10.2.3) taken relative to the answer's Date header
// (both on the coordinator's clock, so the node's clock does not matter).
// It returns 0 for an absent, malformed or past value, and caps the wait
// at maxRetryAfter.
func parseRetryAfter(h, date string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second
	}
	at, err := http.ParseTime(h)
	if err != nil {
		return 0
	}
	sent, err := http.ParseTime(date)
	if err != nil || !at.After(sent) {
		return 0
	}
	return min(at.Sub(sent), maxRetryAfter)
}

// maxRetryAfter caps the wait a Retry-After header may ask for.
const maxRetryAfter = 24 * time.Hour
