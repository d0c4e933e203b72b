package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

func (s *server) pagePolicy(c echo.Context) error {
	p, err := s.b.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	v := s.newView(c, "Policy", "policy")
	v.Data = p
	return s.render(c, http.StatusOK, "policy.html", v)
}

func (s *server) pageVersions(c echo.Context) error {
	vs, err := s.b.PolicyVersions(c.Request().Context())
	if err != nil {
		return err
	}
	v := s.newView(c, "Policy versions", "policy")
	v.Data = vs
	return s.render(c, http.StatusOK, "versions.html", v)
}

// versionPage is one version, its diff against its parent, and the running
// version a rollback would replace.
type versionPage struct {
	Version wire.PolicyVersion
	Parent  *wire.PolicyVersion
	Diff    []diffLine
	Current int64
}

func (s *server) pageVersion(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pv, err := s.b.PolicyVersion(ctx, id)
	if err != nil {
		return err
	}
	cur, err := s.b.Policy(ctx)
	if err != nil {
		return err
	}
	page := versionPage{Version: pv, Current: cur.ID}
	parentText := ""
	if pv.ParentID > 0 {
		par, err := s.b.PolicyVersion(ctx, pv.ParentID)
		if err != nil {
			return err
		}
		page.Parent, parentText = &par, par.Text
	}
	page.Diff = diffLines(parentText, pv.Text)
	v := s.newView(c, fmt.Sprintf("Policy version %d", pv.ID), "policy")
	v.Data = page
	return s.render(c, http.StatusOK, "version.html", v)
}

// rollbackForm reads a rollback's version (the path's id) and the running
// version the form was shown ("parent").
func rollbackForm(c echo.Context) (id, parent int64, err error) {
	if id, err = paramID(c); err != nil {
		return 0, 0, err
	}
	if parent, err = strconv.ParseInt(c.FormValue("parent"), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: bad parent version %q", ErrBadRequest, c.FormValue("parent"))
	}
	return id, parent, nil
}

// actRollback saves an old version's text as a new version. The form
// carries the running version it was shown ("parent"), so a save by
// another admin in between is a conflict, not an overwrite.
func (s *server) actRollback(c echo.Context) error {
	id, parent, err := rollbackForm(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pv, err := s.b.PolicyVersion(ctx, id)
	if err != nil {
		return err
	}
	comment := fmt.Sprintf("roll back to version %d", id)
	if extra := strings.TrimSpace(c.FormValue("comment")); extra != "" {
		comment += ": " + extra
	}
	if _, err := s.b.SetPolicy(ctx, pv.Text, comment, parent, principalOf(c)); err != nil {
		return fmt.Errorf("roll back to version %d: %w", id, err)
	}
	return done(c, "/ui/policy/versions", "rolledback")
}
