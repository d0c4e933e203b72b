package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

func (s *server) apiNodeRoutes(g *echo.Group, read, fleet echo.MiddlewareFunc) {
	p := rel(wire.PathAdminNodes)
	g.GET(p, s.apiListNodes, read)
	g.GET(p+"/:id", s.apiNode, read)
	g.GET(p+"/:id/access", s.apiNodeAccess, read)
	g.DELETE(p+"/:id", s.apiRemoveNode, fleet)
	g.POST(p+"/:id/expire", s.apiExpireNode, fleet)
	g.POST(p+"/:id/approve", s.apiApproveNode, fleet)
	g.PUT(p+"/:id/tags", s.apiTagNode, fleet)
	g.PUT(p+"/:id/risk", s.apiClassifyNode, fleet)
	g.POST(p+"/:id/rename", s.apiRenameNode, fleet)
	g.PUT(p+"/:id/rename", s.apiRenameNode, fleet)
	g.POST(p+"/:id/routes", s.apiSetNodeRoutes, fleet)
}

func (s *server) apiRenameNode(c echo.Context) error {
	var req wire.RenameNodeRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	n, err := s.b.RenameNode(c.Request().Context(), c.Param("id"), req.Name, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

// apiSetNodeRoutes approves and rejects a node's subnet routes.
func (s *server) apiSetNodeRoutes(c echo.Context) error {
	var req wire.RoutesRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	n, err := s.b.SetNodeRoutes(c.Request().Context(), c.Param("id"), req, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *server) apiClassifyNode(c echo.Context) error {
	var req wire.SetRiskClassRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	n, err := s.b.SetNodeRiskClass(c.Request().Context(), c.Param("id"), req.Class, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

// apiListNodes lists the fleet, narrowed by the same query parameters as
// the Devices page (see nodeFilter); with none, every node.
func (s *server) apiListNodes(c echo.Context) error {
	f, err := parseNodeFilter(c.QueryParams(), s.cfg.now())
	if err != nil {
		return err
	}
	nodes, err := s.b.ListNodes(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(f.apply(nodes)))
}

func (s *server) apiNode(c echo.Context) error {
	n, err := s.b.Node(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *server) apiNodeAccess(c echo.Context) error {
	gs, err := s.b.NodeAccess(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(gs))
}

func (s *server) apiRemoveNode(c echo.Context) error {
	if err := s.b.RemoveNode(c.Request().Context(), c.Param("id"), principalOf(c)); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) apiExpireNode(c echo.Context) error {
	n, err := s.b.ExpireNode(c.Request().Context(), c.Param("id"), principalOf(c), c.QueryParam("revoke_auth_key") == "true")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *server) apiApproveNode(c echo.Context) error {
	n, err := s.b.ApproveNode(c.Request().Context(), c.Param("id"), principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *server) apiTagNode(c echo.Context) error {
	var req wire.SetTagsRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	n, err := s.b.SetNodeTags(c.Request().Context(), c.Param("id"), orEmpty(req.Tags), principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}
