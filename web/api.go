package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// Request body limits.
const (
	// maxPolicyBytes bounds a request carrying a policy text.
	maxPolicyBytes = 1 << 20
	// maxFormBytes bounds a form posted by a page.
	maxFormBytes = maxPolicyBytes + 64<<10
)

// rel turns an absolute admin API path into one relative to the API group.
func rel(path string) string { return strings.TrimPrefix(path, strings.TrimSuffix(PrefixAPI, "/")) }

func (s *server) apiRoutes(g *echo.Group) {
	read, fleet, policy, apikeys := s.need(admin.PermRead), s.need(admin.PermFleet), s.need(admin.PermPolicy), s.need(admin.PermAPIKeys)
	g.GET(rel(wire.PathAdminWhoami), s.apiWhoami)
	s.apiNodeRoutes(g, read, fleet)
	s.apiRequestRoutes(g, read, fleet)
	s.apiRolloutRoutes(g, read, fleet)
	s.apiUserRoutes(g, read, fleet)
	s.apiKeyRoutes(g, read, fleet, apikeys)
	s.apiPolicyRoutes(g, read, policy)
	g.GET(rel(wire.PathAdminAudit), s.apiAudit, read)
	g.GET(rel(wire.PathAdminAuditExport), s.apiAuditExport, read)
	g.GET(rel(wire.PathAdminFlows), s.apiFlows, read)
	g.GET(rel(wire.PathAdminAuditVerify), s.apiAuditVerify, read)
	g.GET(rel(wire.PathAdminAlerts), s.apiAlerts, read)
	g.POST(rel(wire.PathAdminAlerts)+"/:id/ack", s.apiAckAlert, fleet)
	s.apiAlertRulesRoutes(g, read, fleet)
	g.Any("/*", func(echo.Context) error { return fmt.Errorf("%w: no such admin API path", ErrNotFound) })
}

func (s *server) apiWhoami(c echo.Context) error {
	return c.JSON(http.StatusOK, principalOf(c))
}

// readJSON decodes exactly one JSON object of at most limit bytes with no
// unknown fields into v. An empty body leaves v as it is when emptyOK. The
// client has the body timeout to send it (see bodyDeadline).
func (s *server) readJSON(c echo.Context, v any, limit int64, emptyOK bool) error {
	done := s.bodyDeadline(c)
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	done(err)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: body over %d bytes", ErrTooLarge, limit)
		}
		return fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if emptyOK && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrBadRequest)
	}
	return nil
}

// bodyDeadline gives the client of c the body timeout, from now, to send
// the request body. Authorization is checked before the body is read: the
// deadline keeps a client from holding a request back and completing it
// long after its principal was disabled. It returns the function to call
// with the outcome of reading the body: after a good read it lifts the
// deadline, so that it cannot cut the request short while the handler
// works; after a failed one it keeps it, so that the server, which reads
// what is left of a body before it answers, answers at once (and closes
// the connection). A writer that cannot set deadlines (a test's recorder)
// reads without one.
func (s *server) bodyDeadline(c echo.Context) (done func(readErr error)) {
	rc := http.NewResponseController(c.Response())
	if rc.SetReadDeadline(time.Now().Add(s.cfg.bodyTimeout)) != nil {
		return func(error) {}
	}
	return func(readErr error) {
		if readErr == nil {
			_ = rc.SetReadDeadline(time.Time{})
		}
	}
}

// paramID parses the numeric :id route parameter.
func paramID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad id %q", ErrBadRequest, c.Param("id"))
	}
	return id, nil
}

// writeAPIError writes err as the API's error body: wire.PolicyError for a
// refused policy, wire.Error otherwise.
func writeAPIError(c echo.Context, code int, err error) {
	if probs := acl.Problems(err); probs != nil {
		pe := wire.PolicyError{Error: "policy rejected", Problems: make([]string, 0, len(probs))}
		for _, p := range probs {
			pe.Problems = append(pe.Problems, p.String())
		}
		_ = c.JSON(code, pe)
		return
	}
	if probs := alertProblems(err); probs != nil {
		_ = c.JSON(code, wire.PolicyError{Error: "alert rules rejected", Problems: probs})
		return
	}
	_ = c.JSON(code, wire.Error{Error: publicMessage(err, code)})
}

// noContent answers a write that returns nothing.
func noContent(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// orEmpty returns xs, or an empty slice so that JSON says [] instead of null.
func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
