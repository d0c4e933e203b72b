package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/fault"
)

// Names of cookies, headers and form fields.
const (
	sessionCookie = "ward_session"
	loginCookie   = "ward_login"
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
)

// Keys of values stored on an echo.Context.
const (
	ctxPrincipal = "ward.principal"
	ctxSession   = "ward.session"
)

// principalOf returns the authenticated principal of c.
func principalOf(c echo.Context) admin.Principal {
	p, _ := c.Get(ctxPrincipal).(admin.Principal)
	return p
}

// sessionOf returns c's session, or nil for an API key.
func sessionOf(c echo.Context) *session {
	s, _ := c.Get(ctxSession).(*session)
	return s
}

// isAPI reports whether c is a request to the JSON API.
func isAPI(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, strings.TrimSuffix(PrefixAPI, "/"))
}

// safeMethod reports whether m changes nothing by definition.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// apiAuth authenticates an API request: a bearer API key, else a session
// cookie whose state-changing requests carry the CSRF token.
func (s *server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h := c.Request().Header.Get("Authorization"); h != "" {
			return s.withAPIKey(c, h, next)
		}
		sess, ok, err := s.cookieSession(c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: send an API key as a bearer token or log in", ErrUnauthorized)
		}
		if sess.principal.Role == admin.RoleNone {
			return fmt.Errorf("%w: %s has no admin role", ErrForbidden, sess.principal.Email)
		}
		return s.withSession(c, sess, next)
	}
}

func (s *server) withAPIKey(c echo.Context, header string, next echo.HandlerFunc) error {
	secret, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return fmt.Errorf("%w: Authorization is not a bearer token", ErrUnauthorized)
	}
	p, err := s.b.APIKey(c.Request().Context(), strings.TrimSpace(secret))
	if err != nil {
		return fmt.Errorf("authenticate api key: %w", err)
	}
	c.Set(ctxPrincipal, p)
	return next(c)
}

// withSession runs next as sess's principal after checking the CSRF token
// of a state-changing request.
func (s *server) withSession(c echo.Context, sess *session, next echo.HandlerFunc) error {
	if !safeMethod(c.Request().Method) && !sess.csrfOK(s.csrfToken(c)) {
		return fmt.Errorf("%w: missing or wrong CSRF token", ErrForbidden)
	}
	c.Set(ctxPrincipal, sess.principal)
	c.Set(ctxSession, sess)
	return next(c)
}

// csrfToken returns the token a request carries, header first. A form
// body is read here, whichever way the token came, within the form size
// limit and the body timeout: a handler reading it later would have no
// deadline, and a request held open could finish after its principal was
// disabled. A JSON body is left to readJSON, which has its own deadline.
func (s *server) csrfToken(c echo.Context) string {
	form := ""
	ct := c.Request().Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxFormBytes)
		done := s.bodyDeadline(c)
		_, err := c.FormParams() // reads the body, once
		if done(err); err != nil {
			return ""
		}
		form = c.FormValue(csrfField)
	}
	if t := c.Request().Header.Get(csrfHeader); t != "" {
		return t
	}
	return form
}

// cookieSession returns the live session named by the request's cookie,
// after asking the backend whether its person may still hold one and with
// which role: a disabled person's session ends at their next request,
// whichever replica serves it, and a person who lost a role acts without
// it at once. The session returned is a copy whose principal has the role
// it acts with now: its role at login capped by the role the backend
// resolves now; a session whose role drops to none ends (one that had
// none at login keeps it, for the "no access" page). An error is the
// backend's failure to answer.
func (s *server) cookieSession(c echo.Context) (*session, bool, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, false, nil
	}
	sess, ok := s.sess.get(ck.Value, s.cfg.now())
	if !ok {
		return nil, false, nil
	}
	now, err := s.b.SessionRole(c.Request().Context(), sess.user, sess.principal.Email)
	switch {
	case err != nil && fault.KindOf(err) == fault.Forbidden:
		// By kind, not by sentinel: a Backend marks its refusals with
		// fault.Forbidden, rarely with ErrForbidden itself.
		s.endSession(c, ck.Value, sess, err.Error())
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("check admin session: %w", err)
	}
	cur := *sess
	cur.principal.Role = sess.principal.Role.Cap(now)
	if sess.principal.Role != admin.RoleNone && cur.principal.Role == admin.RoleNone {
		s.endSession(c, ck.Value, sess, "no admin role now")
		return nil, false, nil
	}
	return &cur, true, nil
}

// endSession ends sess, named by the cookie value id, for reason.
func (s *server) endSession(c echo.Context, id string, sess *session, reason string) {
	s.sess.remove(id)
	s.cfg.log.Info("admin session ended", "actor", sess.principal.Actor, "remote", c.RealIP(), "reason", reason)
}

// pageAuth authenticates a page request by its session cookie only (API
// keys are not for pages); without one, a GET goes to the login page.
// A person with no role gets the "no access" page.
func (s *server) pageAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, ok, err := s.cookieSession(c)
		if err != nil {
			return err
		}
		if !ok {
			if c.Request().Method != http.MethodGet {
				return fmt.Errorf("%w: your session has ended; log in again", ErrForbidden)
			}
			next := c.Request().URL.RequestURI()
			return c.Redirect(http.StatusSeeOther, "/ui/login?next="+url.QueryEscape(next))
		}
		return s.withSession(c, sess, func(c echo.Context) error {
			if sess.principal.Role == admin.RoleNone && c.Path() != "/ui/logout" {
				return s.noAccess(c)
			}
			return next(c)
		})
	}
}

// need refuses principals whose role lacks perm, API keys whose scopes
// do, and a fleet-changing request of a UI session without a recent
// second factor (checkStepUp).
func (s *server) need(perm admin.Perm) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principalOf(c)
			if !p.Role.Can(perm) {
				return fmt.Errorf("%w: role %q may not %s", ErrForbidden, p.Role.Name(), perm)
			}
			if !admin.ScopesAllow(p.Scopes, perm) {
				return fmt.Errorf("%w: %s has scopes %q, none of which may %s", ErrForbidden, p.Actor, p.Scopes, perm)
			}
			if err := s.checkStepUp(c, perm); err != nil {
				return err
			}
			return next(c)
		}
	}
}
