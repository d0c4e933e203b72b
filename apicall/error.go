package apicall

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kinds of refusal an *Error matches with errors.Is.
var (
	// ErrUnauthorized matches a 401: the credentials (session token, API
	// key) were refused.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden matches a 403: the caller may not do this; the
	// Error's Message says why.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited matches a 429: call less often; the Error's
	// RetryAfter says for how long when the server said.
	ErrRateLimited = errors.New("rate limited")
	// ErrUpgradeRequired matches a 426: the server no longer serves the
	// caller's protocol version; the Error's Message names the version it
	// needs.
	ErrUpgradeRequired = errors.New("upgrade required")
)

// maxRetryAfter caps the wait a Retry-After header may ask for.
const maxRetryAfter = 24 * time.Hour

// Error is an error answer: a non-2xx status and what its body said.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Message is the body's "error"; may be empty.
	Message string
	// Problems are the body's "problems" (a refused policy's
	// "FILE:line:col: message" lines); usually empty.
	Problems []string
	// RetryAfter is the wait the server asked for in a Retry-After header
	// (with 429 or 503); zero when it did not.
	RetryAfter time.Duration
	// Server names the server in a server error's message; "" means
	// "server".
	Server string
}

// Error formats e as "STATUS TEXT: MESSAGE" followed by one line per
// problem ("STATUS: MESSAGE" when the message says the text already, as in
// "not found"); a server error (5xx) reads "SERVER error: STATUS TEXT:
// MESSAGE": the server was reached but failed.
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if text := strings.ToLower(http.StatusText(e.Status)); text != "" && strings.Contains(strings.ToLower(e.Message), text) {
		s = strconv.Itoa(e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Problems) > 0 {
		s += ":\n" + strings.Join(e.Problems, "\n")
	}
	if e.Status >= 500 {
		s = orServer(e.Server) + " error: " + s
	}
	return s
}

// Is makes errors.Is(err, ErrUnauthorized) true for a 401,
// errors.Is(err, ErrForbidden) for a 403, errors.Is(err, ErrRateLimited)
// for a 429 and errors.Is(err, ErrUpgradeRequired) for a 426.
func (e *Error) Is(target error) bool {
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
// other than 401 (which new credentials may fix), 408 and 429.
func (e *Error) Permanent() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// IsPermanent reports whether err is an *Error that retrying cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// Refusal returns the server's reason when err is a 403 answer
// (ErrForbidden), and ok false otherwise.
func Refusal(err error) (reason string, ok bool) {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden {
		return "", false
	}
	if e.Message == "" {
		return http.StatusText(e.Status), true
	}
	return e.Message, true
}

// RetryAfter returns the wait a 429 (or 503) answer asked for, and ok
// false when err is not such an answer or it named no wait.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		return 0, false
	}
	return e.RetryAfter, true
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an
// HTTP-date (RFC 9110 §10.2.3) taken relative to the answer's Date header
// (both on the server's clock, so the caller's clock does not matter). It
// returns 0 for an absent, malformed or past value, and caps the wait at
// maxRetryAfter.
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
