// Package apicall sends one JSON request to one of Ward's HTTP APIs (the
// coordinator's control and admin APIs, a daemon's local API) and reads
// the answer: a JSON body into the caller's value, or an error body
// ({"error": "...", "problems": [...]}, see wire.Error and
// wire.PolicyError) into an *Error. The control client, the admin CLI and
// the local API client share it, so a refusal reads the same everywhere.
package apicall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wardnet/ward/cafile"
)

// DefaultMaxAnswer bounds an answer's body when Request.MaxAnswer is 0.
const DefaultMaxAnswer = 1 << 20

// maxErrorBody bounds the part of an error answer read for its message.
const maxErrorBody = 64 << 10

// Errors Do returns, beside *Error.
var (
	// ErrUnreachable means no answer came: no connection, a TLS failure
	// or a timeout. An *Error means the server was reached.
	ErrUnreachable = errors.New("unreachable")
	// ErrProtocol means the answer could not be read: a malformed or
	// oversized body.
	ErrProtocol = errors.New("protocol error")
)

// Request is one call.
type Request struct {
	// Method is the HTTP method; "" means POST.
	Method string
	// URL is the absolute URL, query included.
	URL string
	// Token is sent as a bearer token; "" sends none.
	Token string
	// Body is encoded as the JSON body; nil sends none.
	Body any
	// MaxAnswer bounds the answer's body; 0 means DefaultMaxAnswer.
	MaxAnswer int64
	// Server names the server in errors ("coordinator"): "coordinator
	// unreachable", "coordinator error: 503 ..."; "" means "server".
	Server string
	// Replayable tells that sending the request twice does no harm (a
	// new challenge, a new pending login): net/http then sends it again
	// when a kept-alive connection it reused turns out closed before an
	// answer came, as it does for a GET. Reason: after the server's
	// restart, the first call on a connection to the old process failed
	// with "unreachable: EOF" (seen in CI: a login right after the
	// coordinator's restart).
	Replayable bool
}

// Do sends r with hc and decodes a 2xx answer's JSON body into out (nil:
// the body is discarded). A non-2xx answer is an *Error; no answer is
// ErrUnreachable (unless ctx was cancelled: the caller gave up); an
// unreadable body is ErrProtocol.
func Do(ctx context.Context, hc *http.Client, r Request, out any) error {
	req, err := r.build(ctx)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Unreachable(ctx, r.Server, err)
	}
	defer resp.Body.Close()
	if err := Check(resp, r.Server); err != nil {
		return err
	}
	return Decode(resp.Body, r.MaxAnswer, out)
}

func (r Request) build(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Replayable {
		// net/http's mark of a request it may send again (Request.
		// isReplayable); a nil value is not written on the wire.
		req.Header["Idempotency-Key"] = nil
	}
	return req, nil
}

// Unreachable marks err, the failure of a request that got no answer, as
// ErrUnreachable ("SERVER unreachable: ..."; server "" means "server"),
// unless ctx was cancelled: then the caller gave up, and err is returned
// as it is.
func Unreachable(ctx context.Context, server string, err error) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return err
	}
	var ue *url.Error // it repeats the method and URL the caller knows
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %w: %w%s", orServer(server), ErrUnreachable, err, caHint(err))
}

// caHint points at --ca-file when err is a TLS certificate that no trusted
// CA signed.
func caHint(err error) string {
	if cafile.Untrusted(err) {
		return " (a private CA? trust it with --ca-file)"
	}
	return ""
}

// orServer is server, or "server" when it is empty.
func orServer(server string) string {
	if server == "" {
		return "server"
	}
	return server
}

// Check returns nil for a 2xx answer and an *Error, read from the
// answer's error body, for any other; server names the server in its
// message (see Request.Server).
func Check(resp *http.Response, server string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error    string   `json:"error"`
		Problems []string `json:"problems"`
	}
	if json.Unmarshal(b, &body) != nil {
		body.Error = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	return &Error{Status: resp.StatusCode, Message: body.Error, Problems: body.Problems, Server: server,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))}
}

// Decode decodes a JSON body of at most limit bytes (0: DefaultMaxAnswer)
// into out, or discards it when out is nil.
func Decode(r io.Reader, limit int64, out any) error {
	if limit <= 0 {
		limit = DefaultMaxAnswer
	}
	lr := io.LimitReader(r, limit+1)
	if out == nil {
		_, _ = io.Copy(io.Discard, lr)
		return nil
	}
	b, err := io.ReadAll(lr)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("read answer: %w: body over %d bytes", ErrProtocol, limit)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer: %w: %w", ErrProtocol, err)
	}
	return nil
}
