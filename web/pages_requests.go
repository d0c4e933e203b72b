package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// pageRequests lists the just-in-time access requests, with approve and
// deny on pending ones (the backend decides whether the viewer is one of
// the request's approvers) and revoke on approved ones for fleet admins.
func (s *server) pageRequests(c echo.Context) error {
	rs, err := s.b.ListRequests(c.Request().Context())
	if err != nil {
		return err
	}
	v := s.newView(c, "Access requests", "requests")
	v.Data = rs
	return s.render(c, http.StatusOK, "requests.html", v)
}

// actDecideRequest approves, denies or revokes a request from its page.
func (s *server) actDecideRequest(decision string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := paramID(c)
		if err != nil {
			return err
		}
		if _, err := s.b.DecideRequest(c.Request().Context(), id, decision, principalOf(c)); err != nil {
			return err
		}
		return done(c, "/ui/requests", decision)
	}
}
