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
	"github.com/wardnet/ward/wire"
)

// decodeJSON reads exactly one JSON object of at most wire.MaxRequestBytes
// with no unknown fields into v. The body must arrive within
// Config.BodyTimeout: a request held open cannot be finished long after
// the checks made at its start (a revoked node's rotation).
func (s *core) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
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

// statusOf maps an error to its HTTP status (see kindOf). It is the one
// place where the control API's errors meet status codes.
func statusOf(err error) int { return kindOf(err).HTTPStatus() }

func (s *core) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	setRetryAfter(w, err)
	switch {
	case code == http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	case code == http.StatusServiceUnavailable:
		s.log.Error("request failed: storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = errUnavailableText
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
