package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

func (s *server) apiKeyRoutes(g *echo.Group, read, fleet, apikeys echo.MiddlewareFunc) {
	p := rel(wire.PathAdminAuthKeys)
	g.POST(p, s.apiCreateAuthKey, fleet)
	g.GET(p, s.apiListAuthKeys, read)
	g.DELETE(p+"/:id", s.apiRevokeAuthKey, fleet)
	p = rel(wire.PathAdminAPIKeys)
	g.POST(p, s.apiCreateAPIKey, apikeys)
	g.GET(p, s.apiListAPIKeys, read)
	g.DELETE(p+"/:id", s.apiRevokeAPIKey, apikeys)
	p = rel(wire.PathAdminRelays)
	g.POST(p, s.apiCreateRelay, apikeys)
	g.GET(p, s.apiListRelays, read)
	g.DELETE(p+"/:name", s.apiRemoveRelay, apikeys)
	g.POST(rel(wire.PathAdminReleases), s.apiPublishRelease, fleet)
}

// apiPublishRelease stores the admin's signed TUF repository (issue 16).
func (s *server) apiPublishRelease(c echo.Context) error {
	var p wire.ReleasePublish
	if err := s.readJSON(c, &p, wire.MaxReleaseBytes, false); err != nil {
		return err
	}
	if err := s.b.PublishRelease(c.Request().Context(), p, principalOf(c).Actor); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) apiCreateAuthKey(c echo.Context) error {
	var req wire.CreateAuthKeyRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	k, err := s.b.CreateAuthKey(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, k)
}

func (s *server) apiListAuthKeys(c echo.Context) error {
	ks, err := s.b.ListAuthKeys(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(ks))
}

func (s *server) apiRevokeAuthKey(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.b.RevokeAuthKey(c.Request().Context(), id, principalOf(c).Actor); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) apiCreateAPIKey(c echo.Context) error {
	var req wire.CreateAPIKeyRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	k, err := s.b.CreateAPIKey(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, k)
}

func (s *server) apiListAPIKeys(c echo.Context) error {
	ks, err := s.b.ListAPIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(ks))
}

func (s *server) apiRevokeAPIKey(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.b.RevokeAPIKey(c.Request().Context(), id, principalOf(c).Actor); err != nil {
		return err
	}
	return noContent(c)
}

func (s *server) apiCreateRelay(c echo.Context) error {
	var req wire.CreateRelayRequest
	if err := s.readJSON(c, &req, wire.MaxRequestBytes, false); err != nil {
		return err
	}
	r, err := s.b.CreateRelay(c.Request().Context(), req, principalOf(c).Actor)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (s *server) apiListRelays(c echo.Context) error {
	rs, err := s.b.ListRelays(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, orEmpty(rs))
}

func (s *server) apiRemoveRelay(c echo.Context) error {
	if err := s.b.RemoveRelay(c.Request().Context(), c.Param("name"), principalOf(c).Actor); err != nil {
		return err
	}
	return noContent(c)
}
