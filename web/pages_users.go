package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// userRow is a user with the admin role their groups map to.
type userRow struct {
	// AdminUser is the user as the coordinator reports them, their
	// PolicyGroups sorted.
	wire.AdminUser
	Role admin.Role
}

// usersPage is the data of the Users page.
type usersPage struct {
	Rows []userRow
}

func (s *server) pageUsers(c echo.Context) error {
	us, err := s.b.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	page := usersPage{Rows: make([]userRow, 0, len(us))}
	for _, u := range us {
		u.PolicyGroups = slices.Sorted(slices.Values(u.PolicyGroups))
		member := admin.Member{Email: u.Email, IdPGroups: u.Groups, PolicyGroups: u.PolicyGroups}
		page.Rows = append(page.Rows, userRow{AdminUser: u, Role: admin.RoleOf(member, s.cfg.roles)})
	}
	v := s.newView(c, "Users", "users")
	v.Data = page
	return s.render(c, http.StatusOK, "users.html", v)
}

func (s *server) actSetUserDisabled(disabled bool) echo.HandlerFunc {
	key := map[bool]string{true: "disabled", false: "enabled"}[disabled]
	return func(c echo.Context) error {
		if _, err := s.b.SetUserDisabled(c.Request().Context(), c.Param("id"), disabled, principalOf(c)); err != nil {
			return err
		}
		return done(c, "/ui/users", key)
	}
}

// actRebindUser gives an email to another identity provider account (the
// subject a refused login named): its holders lose it and are disabled.
func (s *server) actRebindUser(c echo.Context) error {
	req := wire.RebindUserRequest{Subject: strings.TrimSpace(c.FormValue("subject")), Issuer: strings.TrimSpace(c.FormValue("issuer"))}
	email := strings.TrimSpace(c.FormValue("email"))
	if email == "" || req.Subject == "" {
		return fmt.Errorf("%w: an email and the subject to bind it to are required", ErrBadRequest)
	}
	if _, err := s.b.RebindUser(c.Request().Context(), email, req, principalOf(c)); err != nil {
		return err
	}
	return done(c, "/ui/users", "rebound")
}
