package web

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
)

// Step-up authentication (RFC 9470): an admin action that changes the
// fleet (a permission beyond read: policy, fleet, API keys) taken in a UI
// session needs the session's login to be within Config.StepUp of now and
// to have shown a second factor. Otherwise the server refuses it with
// ErrStepUp, naming the login that steps up (stepUpPath), and a page's
// form is sent there: the UI logs the person in again with max_age and
// acr_values (StepUpLogin), and the action goes through once they come
// back and send it again. API keys are not people; their scopes decide.

// StepUpLogin is a Login that can ask the IdP to authenticate the person
// again, with a second factor (RFC 9470's max_age and acr_values). A
// Login without it steps up through AuthURL; the session's new
// authentication time and factor are checked either way.
type StepUpLogin interface {
	// StepUpURL is AuthURL for a login the IdP must have authenticated
	// within maxAge, with a second factor.
	StepUpURL(w http.ResponseWriter, r *http.Request, payload string, maxAge time.Duration) (string, error)
}

// stepUpParam marks a login as a step-up (/ui/login?step_up=1).
const stepUpParam = "step_up"

// stepUpPath is the UI login that steps up and returns to next.
func stepUpPath(next string) string {
	return "/ui/login?" + stepUpParam + "=1&next=" + url.QueryEscape(safeNext(next))
}

// checkStepUp refuses a state-changing request needing perm (beyond read)
// from a UI session whose authentication is older than the step-up window
// or showed no second factor. Nil when Config.StepUp is zero, for API keys
// and for reads.
func (s *server) checkStepUp(c echo.Context, perm admin.Perm) error {
	sess := sessionOf(c)
	if s.cfg.stepUp == 0 || perm == admin.PermRead || sess == nil || safeMethod(c.Request().Method) {
		return nil
	}
	a := sess.principal.Auth
	if a.FreshMFA(s.cfg.now(), s.cfg.stepUp) {
		return nil
	}
	why := "it showed no second factor"
	if a.MFA {
		why = fmt.Sprintf("it is older than %v", s.cfg.stepUp)
	}
	if a.Time.IsZero() {
		why = "its time is unknown"
	}
	c.Response().Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_user_authentication", `+
		`error_description="a recent login with a second factor is required", max_age=%d`, int(s.cfg.stepUp/time.Second)))
	return fmt.Errorf("%w: your login %s; log in again at %s", ErrStepUp, why, stepUpPath(refererPage(c)))
}

// refererPage is the UI page a form was posted from, for the step-up to
// return to; the home page when unknown.
func refererPage(c echo.Context) string {
	u, err := url.Parse(c.Request().Referer())
	if err != nil || u.Path == "" {
		return "/ui/devices"
	}
	return safeNext(u.RequestURI())
}

// loginURL returns the IdP URL of a login for payload: a step-up when
// asked and the Login can, else an ordinary one.
func (s *server) loginURL(c echo.Context, payload string) (string, error) {
	if su, ok := s.login.(StepUpLogin); ok && c.QueryParam(stepUpParam) != "" && s.cfg.stepUp > 0 {
		return su.StepUpURL(c.Response(), c.Request(), payload, s.cfg.stepUp)
	}
	return s.login.AuthURL(c.Response(), c.Request(), payload)
}

// needDecide guards an approver's decision on an access request: it needs
// only read (approvers need not administer the fleet), but it grants
// access, so an API key needs the fleet scope for it, not read alone, and
// a UI session a recent second factor, as for a fleet change.
func (s *server) needDecide() echo.MiddlewareFunc {
	read := s.need(admin.PermRead)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return read(func(c echo.Context) error {
			p := principalOf(c)
			if !admin.ScopesAllow(p.Scopes, admin.PermFleet) {
				return fmt.Errorf("%w: %s has scopes %q; deciding an access request needs the fleet scope", ErrForbidden, p.Actor, p.Scopes)
			}
			if err := s.checkStepUp(c, admin.PermFleet); err != nil {
				return err
			}
			return next(c)
		})
	}
}
