package web

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// parseAuditQuery reads the audit filters shared by the API, the export and
// the Audit page: actor, target (a device is "node:NAME"), action (a kind
// prefix such as "node." or "policy."), since and until (RFC 3339, a
// datetime-local value, or for since a duration ago such as "1h"), limit,
// order=newest, and after (an ID: the events appended after it, in append
// order).
func parseAuditQuery(v url.Values, now time.Time) (admin.AuditQuery, error) {
	q := admin.AuditQuery{Actor: strings.TrimSpace(v.Get("actor")), Target: strings.TrimSpace(v.Get("target")),
		ActionPrefix: strings.TrimSpace(v.Get("action")), NewestFirst: v.Get("order") == "newest"}
	if s := v.Get("after"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 0 {
			return q, fmt.Errorf("%w: bad after %q", ErrBadRequest, s)
		}
		q.After, q.AfterID = true, id
	}
	var err error
	q.Since, q.Until, q.Limit, err = parseWindow(v, now)
	return q, err
}

// parseWindow reads the since, until and limit parameters the Audit and
// Flows pages share (see parseWhen); a bad one is ErrBadRequest.
func parseWindow(v url.Values, now time.Time) (since, until time.Time, limit int, err error) {
	if since, err = parseWhen(v.Get("since"), now, true); err != nil {
		return since, until, limit, fmt.Errorf("%w: since: %v", ErrBadRequest, err)
	}
	if until, err = parseWhen(v.Get("until"), now, false); err != nil {
		return since, until, limit, fmt.Errorf("%w: until: %v", ErrBadRequest, err)
	}
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			return since, until, limit, fmt.Errorf("%w: bad limit %q", ErrBadRequest, s)
		}
	}
	return since, until, limit, nil
}

// parseWhen reads a time: RFC 3339, a datetime-local value (UTC), or, when
// agoOK, a duration before now. Empty is the zero time.
func parseWhen(s string, now time.Time, agoOK bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && agoOK && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a date and time", s)
}

func (s *server) apiAudit(c echo.Context) error {
	q, err := parseAuditQuery(c.QueryParams(), s.cfg.now())
	if err != nil {
		return err
	}
	evs, err := s.b.Audit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(evs))
}

// apiAuditExport downloads the selected events as JSON lines or CSV.
func (s *server) apiAuditExport(c echo.Context) error {
	q, err := parseAuditQuery(c.QueryParams(), s.cfg.now())
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format != "jsonl" && format != "csv" {
		return fmt.Errorf("%w: format must be jsonl or csv", ErrBadRequest)
	}
	evs, err := s.b.Audit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ward-audit.%s"`, format))
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		return writeAuditCSV(c.Response(), evs)
	}
	h.Set("Content-Type", "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	enc := json.NewEncoder(c.Response())
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write audit export: %w", err)
		}
	}
	return nil
}

// auditCSVHeader names the CSV columns; detail is JSON.
var auditCSVHeader = []string{"id", "time", "actor", "action", "target", "source", "detail"}

func writeAuditCSV(w http.ResponseWriter, evs []wire.AuditEvent) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditCSVHeader); err != nil {
		return fmt.Errorf("write audit csv: %w", err)
	}
	for _, e := range evs {
		detail := ""
		if e.Detail != nil {
			b, err := json.Marshal(e.Detail)
			if err != nil {
				return fmt.Errorf("encode audit detail %d: %w", e.ID, err)
			}
			detail = string(b)
		}
		row := []string{strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Source, detail}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write audit csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// apiAuditVerify checks the audit log's chain and checkpoints.
func (s *server) apiAuditVerify(c echo.Context) error {
	v, err := s.b.VerifyAudit(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}
