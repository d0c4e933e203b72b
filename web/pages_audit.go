package web

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

// auditPageLimit is how many events the Audit page shows at most; the
// export has no limit.
const auditPageLimit = 500

func (s *server) pageAudit(c echo.Context) error {
	params := c.QueryParams()
	q, err := parseAuditQuery(params, s.cfg.now())
	if err != nil {
		return err
	}
	q.NewestFirst = true
	if q.Limit == 0 || q.Limit > auditPageLimit {
		q.Limit = auditPageLimit
	}
	evs, err := s.b.Audit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	v := s.newView(c, "Audit log", "audit")
	v.Data = struct {
		Events     []wire.AuditEvent
		Query      map[string]string
		JSONL, CSV template.URL
		Limit      int
	}{evs, map[string]string{"actor": params.Get("actor"), "target": params.Get("target"), "action": params.Get("action"),
		"since": params.Get("since"), "until": params.Get("until")}, exportURL(params, "jsonl"), exportURL(params, "csv"), q.Limit}
	return s.render(c, http.StatusOK, "audit.html", v)
}

// exportURL is the export link for the page's filters. It is built from
// url.Values.Encode, so it is safe to mark as a URL.
func exportURL(params url.Values, format string) template.URL {
	q := maps.Clone(params)
	q.Del("limit")
	q.Del("order")
	q.Set("format", format)
	return template.URL(PrefixAPI + "audit/export?" + q.Encode())
}
