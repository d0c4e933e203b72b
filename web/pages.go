package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
)

// pageRoutes registers the pages and their form actions. Every action is a
// POST carrying the session's CSRF token (checked by pageAuth) and is
// checked against the role matrix like its API twin.
func (s *server) pageRoutes(g *echo.Group) {
	read, fleet, policy, apikeys := s.need(admin.PermRead), s.need(admin.PermFleet), s.need(admin.PermPolicy), s.need(admin.PermAPIKeys)
	g.POST("/logout", s.logout)
	g.GET("/devices", s.pageDevices, read)
	g.GET("/devices/:id", s.pageDevice, read)
	g.POST("/devices/:id/tags", s.actTagDevice, fleet)
	g.POST("/devices/:id/risk", s.actClassifyDevice, fleet)
	g.POST("/devices/:id/rename", s.actRenameDevice, fleet)
	g.POST("/devices/:id/routes", s.actDeviceRoute, fleet)
	g.POST("/devices/:id/expire", s.actExpireDevice, fleet)
	g.POST("/devices/:id/approve", s.actApproveDevice, fleet)
	g.POST("/devices/:id/remove", s.actRemoveDevice, fleet)
	g.GET("/users", s.pageUsers, read)
	g.POST("/users/:id/disable", s.actSetUserDisabled(true), fleet)
	g.POST("/users/:id/enable", s.actSetUserDisabled(false), fleet)
	g.POST("/users/rebind", s.actRebindUser, fleet)
	g.GET("/keys", s.pageKeys, read)
	g.POST("/keys", s.actCreateAuthKey, fleet)
	g.POST("/keys/:id/revoke", s.actRevokeAuthKey, fleet)
	g.POST("/apikeys", s.actCreateAPIKey, apikeys)
	g.POST("/apikeys/:id/revoke", s.actRevokeAPIKey, apikeys)
	g.GET("/policy", s.pagePolicy, read)
	g.GET("/policy/versions", s.pageVersions, read)
	g.GET("/policy/versions/:id", s.pageVersion, read)
	g.POST("/policy/versions/:id/rollback", s.actRollback, policy)
	g.GET("/audit", s.pageAudit, read)
	g.GET("/flows", s.pageFlows, read)
	g.GET("/alerts", s.pageAlerts, read)
	g.POST("/alerts/:id/ack", s.actAckAlert, fleet)
	g.GET("/alerts/rules", s.pageAlertRules, fleet) // its text holds credentials (apiAlertRulesRoutes)
	g.POST("/alerts/rules", s.actSaveAlertRules, fleet)
	g.POST("/alerts/rules/versions/:id/rollback", s.actRollbackAlertRules, fleet)
	g.GET("/requests", s.pageRequests, read)
	g.POST("/requests/:id/approve", s.actDecideRequest("approve"), s.needDecide())
	g.POST("/requests/:id/deny", s.actDecideRequest("deny"), s.needDecide())
	g.POST("/requests/:id/revoke", s.actDecideRequest("revoke"), fleet)
	g.GET("/rollouts", s.pageRollouts, read)
	g.GET("/rollouts/:id", s.pageRollout, read)
	for _, a := range []string{"pause", "resume", "abort"} {
		g.POST("/rollouts/:id/"+a, s.actOnRollout(a), fleet)
	}
	g.Any("/*", func(echo.Context) error { return fmt.Errorf("%w: no such page", ErrNotFound) })
}

// done redirects after an action to path with a confirmation key.
func done(c echo.Context, path, key string) error {
	return c.Redirect(http.StatusSeeOther, path+"?done="+url.QueryEscape(key))
}

// refusedInput tells whether err refuses what the admin typed in a form
// (a 400): the form is then shown again with the input and the error,
// instead of an error page that loses the input.
func refusedInput(err error) bool {
	return err != nil && StatusOf(err) == http.StatusBadRequest
}

// splitList splits a form field of names separated by commas or spaces.
func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}
