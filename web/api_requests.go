package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/wire"
)

// apiRequestRoutes serves the just-in-time access requests: anyone who
// may read lists them and, when the policy makes them an approver,
// approves or denies them (the backend checks the approval groups);
// revoking an approved one takes the fleet permission.
func (s *server) apiRequestRoutes(g *echo.Group, read, fleet echo.MiddlewareFunc) {
	p := rel(wire.PathAdminRequests)
	g.GET(p, s.apiListRequests, read)
	g.POST(p+"/:id/approve", s.apiDecideRequest("approve"), s.needDecide())
	g.POST(p+"/:id/deny", s.apiDecideRequest("deny"), s.needDecide())
	g.POST(p+"/:id/revoke", s.apiDecideRequest("revoke"), fleet)
}

func (s *server) apiListRequests(c echo.Context) error {
	rs, err := s.b.ListRequests(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(rs))
}

func (s *server) apiDecideRequest(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			return ErrNotFound
		}
		r, err := s.b.DecideRequest(c.Request().Context(), id, decision, principalOf(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}
}
