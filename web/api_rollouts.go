package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/wire"
)

// maxRolloutBytes bounds a rollout request.
const maxRolloutBytes = 64 << 10

// apiRolloutRoutes serves the rollouts: anyone who may read lists and
// shows them; creating, pausing, resuming and aborting take the fleet
// permission.
func (s *server) apiRolloutRoutes(g *echo.Group, read, fleet echo.MiddlewareFunc) {
	p := rel(wire.PathAdminRollouts)
	g.GET(p, s.apiListRollouts, read)
	g.POST(p, s.apiCreateRollout, fleet)
	g.GET(p+"/:id", s.apiShowRollout, read)
	for _, a := range []string{"pause", "resume", "abort"} {
		g.POST(p+"/:id/"+a, s.apiActOnRollout(a), fleet)
	}
}

func (s *server) apiListRollouts(c echo.Context) error {
	rs, err := s.b.ListRollouts(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(rs))
}

func (s *server) apiCreateRollout(c echo.Context) error {
	var req wire.RolloutCreate
	if err := s.readJSON(c, &req, maxRolloutBytes, false); err != nil {
		return err
	}
	r, err := s.b.CreateRollout(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (s *server) apiShowRollout(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	r, err := s.b.Rollout(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *server) apiActOnRollout(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := paramID(c)
		if err != nil {
			return err
		}
		r, err := s.b.ActOnRollout(c.Request().Context(), id, action, principalOf(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}
}
