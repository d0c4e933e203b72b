package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

func (s *server) apiPolicyRoutes(g *echo.Group, read, policy echo.MiddlewareFunc) {
	g.GET(rel(wire.PathAdminPolicy), s.apiPolicy, read)
	g.PUT(rel(wire.PathAdminPolicy), s.apiSetPolicy, policy)
	g.GET(rel(wire.PathAdminPolicyVersions), s.apiPolicyVersions, read)
	g.GET(rel(wire.PathAdminPolicyVersions)+"/:id", s.apiPolicyVersion, read)
	// Checking and previewing change nothing: read is enough, so an
	// auditor can validate a draft too.
	g.POST(rel(wire.PathAdminPolicyCheck), s.apiCheckPolicy, read)
	g.POST(rel(wire.PathAdminPolicyImpact), s.apiPolicyImpact, read)
}

func (s *server) apiPolicy(c echo.Context) error {
	v, err := s.b.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiSetPolicy saves a policy; the backend refuses an invalid one (400 with
// every problem) and a stale parent (409).
func (s *server) apiSetPolicy(c echo.Context) error {
	var req wire.SetPolicyRequest
	if err := s.readJSON(c, &req, maxPolicyBytes, false); err != nil {
		return err
	}
	v, err := s.b.SetPolicy(c.Request().Context(), req.Text, req.Comment, req.ParentID, principalOf(c))
	if err != nil {
		return err
	}
	v.Text = ""
	return c.JSON(http.StatusOK, v)
}

func (s *server) apiPolicyVersions(c echo.Context) error {
	vs, err := s.b.PolicyVersions(c.Request().Context())
	if err != nil {
		return err
	}
	for i := range vs {
		vs[i].Text = ""
	}
	return c.JSON(http.StatusOK, orEmpty(vs))
}

func (s *server) apiPolicyVersion(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	v, err := s.b.PolicyVersion(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiCheckPolicy validates a draft and runs its tests. A draft with
// problems is a normal answer (200, ok=false), not an error.
func (s *server) apiCheckPolicy(c echo.Context) error {
	var req wire.PolicyTextRequest
	if err := s.readJSON(c, &req, maxPolicyBytes, false); err != nil {
		return err
	}
	pc, err := s.b.CheckPolicy(c.Request().Context(), req.Text)
	if err != nil {
		return err
	}
	pc.Problems, pc.Tests = orEmpty(pc.Problems), orEmpty(pc.Tests)
	return c.JSON(http.StatusOK, pc)
}

// apiPolicyImpact lists the grants a draft adds and removes; a draft with
// problems is a 400 with every problem.
func (s *server) apiPolicyImpact(c echo.Context) error {
	var req wire.PolicyTextRequest
	if err := s.readJSON(c, &req, maxPolicyBytes, false); err != nil {
		return err
	}
	im, err := s.b.PolicyImpact(c.Request().Context(), req.Text)
	if err != nil {
		return err
	}
	im.Added, im.Removed = orEmpty(im.Added), orEmpty(im.Removed)
	return c.JSON(http.StatusOK, im)
}
