package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// userRow is a user with the admin role their groups map to and the
// groups the policy file puts them in.
type userRow struct {
	wire.AdminUser
	Role admin.Role
	// PolicyGroups are the policy's groups that list the user's email
	// ("group:operators"), sorted; the IdP groups are in Groups.
	PolicyGroups []string
}

// usersPage is the data of the Users page.
type usersPage struct {
	Rows []userRow
	// PolicyProblem says why the policy's groups are not shown; empty
	// when they are.
	PolicyProblem string
}

func (s *server) pageUsers(c echo.Context) error {
	ctx := c.Request().Context()
	us, err := s.b.ListUsers(ctx)
	if err != nil {
		return err
	}
	pol, err := s.b.Policy(ctx)
	if err != nil {
		return err
	}
	page := usersPage{Rows: make([]userRow, 0, len(us))}
	groups, err := policyGroups(pol.Text)
	if err != nil {
		// Still show the users: the page is where an admin disables one.
		s.cfg.log.Error("read the running policy's groups", "version", pol.ID, "err", err)
		page.PolicyProblem = fmt.Sprintf("the running policy (version %d) could not be read", pol.ID)
	}
	for _, u := range us {
		member := admin.Member{Email: u.Email, IdPGroups: u.Groups, PolicyGroups: groups[u.Email]}
		page.Rows = append(page.Rows, userRow{AdminUser: u, Role: admin.RoleOf(member, s.cfg.roles), PolicyGroups: groups[u.Email]})
	}
	v := s.newView(c, "Users", "users")
	v.Data = page
	return s.render(c, http.StatusOK, "users.html", v)
}

// policyGroups maps every email the policy's "groups" list to the groups
// that list it, sorted. Emails match exactly, as the policy compiler
// matches them.
func policyGroups(text string) (map[string][]string, error) {
	p, err := acl.Parse("policy", []byte(text))
	if err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	out := map[string][]string{}
	for _, g := range p.Groups {
		for _, m := range g.Members {
			if !slices.Contains(out[m.S], g.Name.S) {
				out[m.S] = append(out[m.S], g.Name.S)
			}
		}
	}
	for _, gs := range out {
		slices.Sort(gs)
	}
	return out, nil
}

func (s *server) actSetUserDisabled(disabled bool) echo.HandlerFunc {
	key := map[bool]string{true: "disabled", false: "enabled"}[disabled]
	return func(c echo.Context) error {
		if _, err := s.b.SetUserDisabled(c.Request().Context(), c.Param("id"), disabled, principalOf(c).Actor); err != nil {
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
	if _, err := s.b.RebindUser(c.Request().Context(), email, req, principalOf(c).Actor); err != nil {
		return err
	}
	return done(c, "/ui/users", "rebound")
}
