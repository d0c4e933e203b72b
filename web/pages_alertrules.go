package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/wire"
)

// alertRulesPage is the alert rules page's data: the version in force,
// the text in the editor (the running one, an old version's, or a refused
// draft), the problems of a refused save, and the versions.
type alertRulesPage struct {
	Running wire.PolicyVersion
	Text    string
	// Showing is the old version in the editor; 0: the running one.
	Showing  int64
	Comment  string
	Problems []alert.Problem
	Versions []wire.PolicyVersion
}

// pageAlertRules shows the rules in force (or ?version=N) in the editor.
func (s *server) pageAlertRules(c echo.Context) error {
	page, err := s.alertRulesPage(c)
	if err != nil {
		return err
	}
	if q := c.QueryParam("version"); q != "" {
		id, err := strconv.ParseInt(q, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: bad version %q", ErrBadRequest, q)
		}
		old, err := s.b.AlertRulesVersion(c.Request().Context(), id)
		if err != nil {
			return err
		}
		page.Text, page.Showing = old.Text, old.ID
	}
	return s.renderAlertRules(c, http.StatusOK, page)
}

func (s *server) alertRulesPage(c echo.Context) (alertRulesPage, error) {
	ctx := c.Request().Context()
	run, err := s.b.AlertRules(ctx)
	if err != nil {
		return alertRulesPage{}, err
	}
	vs, err := s.b.AlertRulesVersions(ctx)
	if err != nil {
		return alertRulesPage{}, err
	}
	return alertRulesPage{Running: run, Text: run.Text, Versions: vs}, nil
}

func (s *server) renderAlertRules(c echo.Context, code int, page alertRulesPage) error {
	v := s.newView(c, "Alert rules", "alertrules")
	v.Data = page
	return s.render(c, code, "alertrules.html", v)
}

// actSaveAlertRules saves the editor's text. Refused rules come back in
// the editor with each problem at line:col (400), nothing saved; the
// form carries the version it was shown ("parent"), so a save by another
// admin in between is a conflict, not an overwrite.
func (s *server) actSaveAlertRules(c echo.Context) error {
	parent, err := strconv.ParseInt(c.FormValue("parent"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad parent version %q", ErrBadRequest, c.FormValue("parent"))
	}
	// A browser sends a textarea's line breaks as CRLF; keep the text as
	// it was typed.
	text, comment := strings.ReplaceAll(c.FormValue("text"), "\r\n", "\n"), strings.TrimSpace(c.FormValue("comment"))
	_, err = s.b.SetAlertRules(c.Request().Context(), text, comment, parent, principalOf(c))
	var probs alert.ErrorList
	if errors.As(err, &probs) {
		page, perr := s.alertRulesPage(c)
		if perr != nil {
			return perr
		}
		page.Text, page.Comment, page.Problems = text, comment, probs
		return s.renderAlertRules(c, http.StatusBadRequest, page)
	}
	if err != nil {
		return err
	}
	return done(c, "/ui/alerts/rules", "alertrules")
}

// actRollbackAlertRules saves an old version's text as a new version.
func (s *server) actRollbackAlertRules(c echo.Context) error {
	id, parent, err := rollbackForm(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	old, err := s.b.AlertRulesVersion(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.b.SetAlertRules(ctx, old.Text, fmt.Sprintf("roll back to version %d", id), parent, principalOf(c)); err != nil {
		return fmt.Errorf("roll back the alert rules to version %d: %w", id, err)
	}
	return done(c, "/ui/alerts/rules", "alertrules-rolledback")
}
