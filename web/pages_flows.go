package web

import (
	"html/template"
	"maps"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/wire"
)

// flowPageLimit is how many records the Flows page shows at most; the
// export has no limit.
const flowPageLimit = 500

func (s *server) pageFlows(c echo.Context) error {
	params := c.QueryParams()
	q, err := parseFlowQuery(params, s.cfg.now())
	if err != nil {
		return err
	}
	if q.Limit == 0 || q.Limit > flowPageLimit {
		q.Limit = flowPageLimit
	}
	fs, err := s.b.Flows(c.Request().Context(), q)
	if err != nil {
		return err
	}
	export := maps.Clone(params)
	export.Del("limit")
	export.Set("format", "jsonl")
	v := s.newView(c, "Flows", "flows")
	v.Data = struct {
		Flows []wire.AdminFlow
		Query map[string]any
		JSONL template.URL
		Limit int
	}{fs, map[string]any{"node": params.Get("node"), "since": params.Get("since"), "until": params.Get("until"),
		"denied": q.DeniedOnly}, template.URL(PrefixAPI + "flows?" + export.Encode()), q.Limit}
	return s.render(c, http.StatusOK, "flows.html", v)
}
