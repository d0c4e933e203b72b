package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/wire"
)

// alertsPage is the alerts page's data: the state shown and its alerts.
type alertsPage struct {
	State  string
	States []string
	Alerts []wire.AdminAlert
}

// pageAlerts lists the alerts in ?state= (open by default).
func (s *server) pageAlerts(c echo.Context) error {
	state, limit, err := alertsQuery(c)
	if err != nil {
		return err
	}
	as, err := s.b.ListAlerts(c.Request().Context(), state, limit)
	if err != nil {
		return err
	}
	v := s.newView(c, "Alerts", "alerts")
	v.Data = alertsPage{State: state, States: []string{"open", "firing", "acknowledged", "resolved", "event", "all"}, Alerts: as}
	return s.render(c, http.StatusOK, "alerts.html", v)
}

// actAckAlert acknowledges an alert from its page.
func (s *server) actAckAlert(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if _, err := s.b.AckAlert(c.Request().Context(), id, principalOf(c)); err != nil {
		return err
	}
	return done(c, "/ui/alerts", "ack")
}
