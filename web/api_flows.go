package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
)

// parseFlowQuery reads the flow-log filters shared by the API, the export
// and the Flows page: node, since and until (as for the audit log),
// denied (1, true or on) and limit.
func parseFlowQuery(v url.Values, now time.Time) (admin.FlowQuery, error) {
	q := admin.FlowQuery{Node: strings.TrimSpace(v.Get("node"))}
	switch v.Get("denied") {
	case "", "0", "false":
	case "1", "true", "on":
		q.DeniedOnly = true
	default:
		return q, fmt.Errorf("%w: denied must be true or false", ErrBadRequest)
	}
	var err error
	q.Since, q.Until, q.Limit, err = parseWindow(v, now)
	return q, err
}

// apiFlows lists flow-log records as a JSON array, or with format=jsonl
// as JSON lines (the export).
func (s *server) apiFlows(c echo.Context) error {
	q, err := parseFlowQuery(c.QueryParams(), s.cfg.now())
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format != "" && format != "jsonl" {
		return fmt.Errorf("%w: format must be jsonl or empty", ErrBadRequest)
	}
	fs, err := s.b.Flows(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if format == "" {
		return c.JSON(http.StatusOK, orEmpty(fs))
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", `attachment; filename="ward-flows.jsonl"`)
	h.Set("Content-Type", "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	enc := json.NewEncoder(c.Response())
	for _, f := range fs {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("write flow export: %w", err)
		}
	}
	return nil
}
