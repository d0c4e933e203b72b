package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

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
// the Devices page (see nodeFilter). With a limit or a cursor
// (wire.NodePageLimitParam, wire.NodePageAfterParam) it answers one
// wire.AdminNodePage, whose cost is the page's. With neither it answers
// the bare array of every matching node, as before protocol 25, for the
// scripts written against it: that answer is read page by page too, but
// its size and cost grow with the fleet.
func (s *server) apiListNodes(c echo.Context) error {
	q := c.QueryParams()
	f, err := parseNodeFilter(q, s.cfg.now())
	if err != nil {
		return err
	}
	limit, after, paged, err := parseNodePage(q)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if paged {
		p, err := s.b.NodePage(ctx, after, limit, f.matcher())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	}
	all := []wire.AdminNode{}
	for {
		p, err := s.b.NodePage(ctx, after, wire.NodePageMax, f.matcher())
		if err != nil {
			return err
		}
		all = append(all, p.Nodes...)
		if p.Next == "" {
			return c.JSON(http.StatusOK, all)
		}
		if after, err = strconv.ParseInt(p.Next, 10, 64); err != nil {
			return fmt.Errorf("node list cursor %q: %w", p.Next, err)
		}
	}
}

// parseNodePage reads a page's size and cursor from v; paged tells
// whether either was given. A limit outside 1 to wire.NodePageMax or a
// cursor that is not a node id is ErrBadRequest.
func parseNodePage(v url.Values) (limit int, after int64, paged bool, err error) {
	limit = wire.NodePageDefault
	if s, ok := v[wire.NodePageLimitParam]; ok {
		paged = true
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > wire.NodePageMax || len(s) > 1 {
			return 0, 0, false, fmt.Errorf("%w: %s must be one whole number from 1 to %d", ErrBadRequest, wire.NodePageLimitParam, wire.NodePageMax)
		}
		limit = n
	}
	if s, ok := v[wire.NodePageAfterParam]; ok {
		paged = true
		n, err := strconv.ParseInt(s[0], 10, 64)
		if err != nil || n < 0 || len(s) > 1 {
			return 0, 0, false, fmt.Errorf("%w: %s must be one node id (the next of the page before)", ErrBadRequest, wire.NodePageAfterParam)
		}
		after = n
	}
	return limit, after, paged, nil
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
