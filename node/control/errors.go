package control

import (
	"errors"
	"time"

	"github.com/wardnet/ward/apicall"
)

// Errors returned by the Client. The coordinator's answers are decoded by
// package apicall; these names are its sentinels, as the node sees them.
var (
	// ErrUnauthorized means the coordinator refused the session token or
	// the machine key (HTTP 401 after a fresh session).
	ErrUnauthorized = apicall.ErrUnauthorized
	// ErrForbidden means the coordinator refuses what this node asks
	// (HTTP 403): for a rotation, an admin expired or removed the node,
	// or its owner may no longer connect. The APIError's Message says
	// why; asking again soon cannot help.
	ErrForbidden = apicall.ErrForbidden
	// ErrRateLimited means the coordinator asks the node to call less
	// often (HTTP 429); the APIError's RetryAfter says for how long when
	// the coordinator said.
	ErrRateLimited = apicall.ErrRateLimited
	// ErrUnreachable means no answer came from the coordinator: no
	// connection, a TLS failure or a timeout. An error answer (an
	// APIError, 5xx included) means the coordinator was reached.
	ErrUnreachable = apicall.ErrUnreachable
	// ErrInsecureURL means the coordinator URL is plain HTTP to a host that
	// is not loopback, or plain HTTP without Config.AllowInsecureHTTP.
	ErrInsecureURL = errors.New("coordinator url must be https (plain http only on loopback with the dev flag)")
	// ErrUpgradeRequired means the coordinator no longer serves this
	// node's protocol version (HTTP 426); the APIError's Message names the
	// version it needs. Only a newer Ward helps.
	ErrUpgradeRequired = apicall.ErrUpgradeRequired
	// ErrProtocol means the coordinator sent something this client cannot
	// read: a malformed or oversized message.
	ErrProtocol = apicall.ErrProtocol
)

// APIError is an error answer from the coordinator: a non-2xx status and
// the message of its wire.Error body. A server error (5xx) reads
// "coordinator error: STATUS TEXT: MESSAGE".
type APIError = apicall.Error

// IsPermanent reports whether err is an APIError that retrying cannot fix:
// a 4xx other than 401 (which a new session may fix), 408 and 429.
func IsPermanent(err error) bool { return apicall.IsPermanent(err) }

// Refusal returns the coordinator's reason when err is a 403 answer
// (ErrForbidden), and ok false otherwise.
func Refusal(err error) (reason string, ok bool) { return apicall.Refusal(err) }

// RetryAfter returns the wait a 429 (or 503) answer asked for, and ok
// false when err is not such an answer or it named no wait.
func RetryAfter(err error) (time.Duration, bool) { return apicall.RetryAfter(err) }
