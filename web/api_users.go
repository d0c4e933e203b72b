package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

func (s *server) apiUserRoutes(g *echo.Group, read, fleet echo.MiddlewareFunc) {
	p := rel(wire.PathAdminUsers)
	g.GET(p, s.apiListUsers, read)
	g.GET(p+"/:id", s.apiUser, read)
	g.POST(p+"/:id/disable", s.apiSetUserDisabled(true), fleet)
	g.POST(p+"/:id/enable", s.apiSetUserDisabled(false), fleet)
	g.POST(p+"/:id/rebind", s.apiRebindUser, fleet)
	g.POST(rel(wire.PathAdminMigrateIssuer), s.apiMigrateIssuer, fleet)
}

// apiMigrateIssuer moves the users of one issuer to another (or, dry, says
// who would move).
func (s *server) apiMigrateIssuer(c echo.Context) error {
	var req wire.MigrateIssuerRequest
	if err := s.readJSON(c, &req, maxFormBytes, false); err != nil {
		return err
	}
	if req.From == "" || req.To == "" {
		return fmt.Errorf("%w: from and to are required", ErrBadRequest)
	}
	res, err := s.b.MigrateIssuer(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	res.Users = orEmpty(res.Users)
	return c.JSON(http.StatusOK, res)
}

func (s *server) apiListUsers(c echo.Context) error {
	us, err := s.b.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(us))
}

func (s *server) apiUser(c echo.Context) error {
	u, err := s.b.User(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *server) apiSetUserDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := s.b.SetUserDisabled(c.Request().Context(), c.Param("id"), disabled, principalOf(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, u)
	}
}

// apiRebindUser binds the email :id to the identity provider subject the
// body names; its other holders lose it and are disabled.
func (s *server) apiRebindUser(c echo.Context) error {
	var req wire.RebindUserRequest
	if err := s.readJSON(c, &req, maxFormBytes, false); err != nil {
		return err
	}
	if req.Subject == "" {
		return fmt.Errorf("%w: subject is required", ErrBadRequest)
	}
	u, err := s.b.RebindUser(c.Request().Context(), c.Param("id"), req, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}
