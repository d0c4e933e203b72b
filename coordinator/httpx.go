package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// Request errors mapped to 4xx statuses.
var (
	errBadRequest = errors.New("bad request")
	errTooLarge   = errors.New("request too large")
	errForbidden  = errors.New("forbidden")
	errNotNode    = errors.New("machine is not a registered node")
	// errTooManyStreams refuses a map stream beyond maxStreamsPerNode.
	errTooManyStreams = errors.New("too many open map streams for this node")
)

// decodeJSON reads exactly one JSON object of at most wire.MaxRequestBytes
// with no unknown fields into v. The body must arrive within
// Config.BodyTimeout: a request held open cannot be finished long after
// the checks made at its start (a revoked node's rotation).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) // not supported by every writer (tests): then no deadline
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxRequestBytes))
	if err == nil {
		// Only after a whole body: after a failed read the server drains
		// what is left, and that drain must keep the deadline.
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: body over %d bytes", errTooLarge, wire.MaxRequestBytes)
		}
		return fmt.Errorf("%w: read body: %v", errBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON object", errBadRequest)
	}
	return nil
}

// statusOf maps an error to its HTTP status. It is the one place where
// errors meet status codes.
func statusOf(err error) int {
	switch {
	case store.Unavailable(err):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNoCredentials), errors.Is(err, errBadToken),
		errors.Is(err, errBadChallenge), errors.Is(err, errBadSignature):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden), errors.Is(err, errNotNode),
		errors.Is(err, store.ErrAuthKeyNotFound), errors.Is(err, store.ErrAuthKeyExpired),
		errors.Is(err, store.ErrAuthKeyRevoked), errors.Is(err, store.ErrAuthKeyUsed),
		errors.Is(err, store.ErrAPIKeyNotFound), errors.Is(err, store.ErrAPIKeyExpired),
		errors.Is(err, store.ErrAPIKeyRevoked), errors.Is(err, store.ErrRotationRefused),
		errors.Is(err, store.ErrAuthKeyBeforeRevocation), errors.Is(err, store.ErrUserDisabled),
		errors.Is(err, store.ErrKeyCreatorDisabled):
		return http.StatusForbidden
	case errors.Is(err, wire.ErrProtocolTooOld):
		return http.StatusUpgradeRequired
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errTooManyStreams), errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrMachineExists),
		errors.Is(err, store.ErrDuplicate), errors.Is(err, store.ErrEmailBound):
		return http.StatusConflict
	case errors.Is(err, errBadRequest), errors.Is(err, store.ErrInvalid), acl.Problems(err) != nil:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	setRetryAfter(w, err)
	switch {
	case code == http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	case store.Unavailable(err):
		s.log.Error("request failed: storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = store.ErrUnavailable.Error() + "; try again later"
		w.Header().Set("Retry-After", "5")
	}
	if probs := acl.Problems(err); probs != nil {
		pe := wire.PolicyError{Error: "policy rejected"}
		for _, p := range probs {
			pe.Problems = append(pe.Problems, p.String())
		}
		writeJSON(w, code, pe)
		return
	}
	writeJSON(w, code, wire.Error{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
