package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
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
