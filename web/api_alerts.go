package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

// defaultAlertsListed is how many alerts a listing shows without ?limit.
const defaultAlertsListed = 200

// alertsQuery reads ?state= (default "open") and ?limit= (default 200).
func alertsQuery(c echo.Context) (string, int, error) {
	state := c.QueryParam("state")
	if state == "" {
		state = "open"
	}
	limit := defaultAlertsListed
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return "", 0, fmt.Errorf("%w: limit %q is not a number", ErrBadRequest, l)
		}
		limit = n
	}
	return state, limit, nil
}

func (s *server) apiAlerts(c echo.Context) error {
	state, limit, err := alertsQuery(c)
	if err != nil {
		return err
	}
	as, err := s.b.ListAlerts(c.Request().Context(), state, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(as))
}

func (s *server) apiAckAlert(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return ErrNotFound
	}
	a, err := s.b.AckAlert(c.Request().Context(), id, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// apiAlertRulesRoutes registers the alert rules' API. The rules' texts
// hold credentials (webhook secrets, Slack hook URLs, SMTP passwords), so
// reading a text takes the permission that edits them (fleet), not read:
// an auditor or a read-scoped API key lists the versions only.
func (s *server) apiAlertRulesRoutes(g *echo.Group, read, fleet echo.MiddlewareFunc) {
	g.GET(rel(wire.PathAdminAlertRules), s.apiAlertRules, fleet)
	g.PUT(rel(wire.PathAdminAlertRules), s.apiSetAlertRules, fleet)
	g.GET(rel(wire.PathAdminAlertRulesVersions), s.apiAlertRulesVersions, read)
	g.GET(rel(wire.PathAdminAlertRulesVersions)+"/:id", s.apiAlertRulesVersion, fleet)
	g.POST(rel(wire.PathAdminAlertRulesCheck), s.apiCheckAlertRules, fleet)
}

// apiCheckAlertRules parses a draft of alert rules as a save would,
// saving nothing: 200 with every problem at line:col (ok=false), the
// shape of the policy check, so the editor marks both the same way.
func (s *server) apiCheckAlertRules(c echo.Context) error {
	var req wire.PolicyTextRequest
	if err := s.readJSON(c, &req, maxPolicyBytes, false); err != nil {
		return err
	}
	res := acl.CheckResult{OK: true, Problems: []acl.Problem{}, Tests: []acl.TestResult{}}
	if _, err := alert.Parse("alerts.hujson", []byte(req.Text)); err != nil {
		var l alert.ErrorList
		if !errors.As(err, &l) {
			l = alert.ErrorList{{File: "alerts.hujson", Line: 1, Col: 1, Msg: err.Error()}}
		}
		res.OK = false
		for _, p := range l {
			res.Problems = append(res.Problems, acl.Problem{File: p.File, Pos: acl.Pos{Line: p.Line, Col: p.Col}, Msg: p.Msg})
		}
	}
	return c.JSON(http.StatusOK, res)
}

func (s *server) apiAlertRules(c echo.Context) error {
	v, err := s.b.AlertRules(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiSetAlertRules saves alert rules: 400 with every problem at line:col
// when invalid, 409 for a stale parent.
func (s *server) apiSetAlertRules(c echo.Context) error {
	var req wire.SetPolicyRequest
	if err := s.readJSON(c, &req, maxPolicyBytes, false); err != nil {
		return err
	}
	v, err := s.b.SetAlertRules(c.Request().Context(), req.Text, req.Comment, req.ParentID, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *server) apiAlertRulesVersions(c echo.Context) error {
	vs, err := s.b.AlertRulesVersions(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(vs))
}

func (s *server) apiAlertRulesVersion(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	v, err := s.b.AlertRulesVersion(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// alertProblems returns the "FILE:line:col: message" of each problem of
// refused alert rules in err; nil when err carries none.
func alertProblems(err error) []string {
	var l alert.ErrorList
	if !errors.As(err, &l) {
		return nil
	}
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return out
}
