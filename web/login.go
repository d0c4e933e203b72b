package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// loginTTL bounds how long a login may take at the IdP.
const loginTTL = 10 * time.Minute

func (s *server) publicRoutes(e *echo.Echo) error {
	static, err := staticHandler()
	if err != nil {
		return err
	}
	e.GET("/ui/login", s.startLogin)
	e.GET("/ui/callback", s.finishLogin)
	e.GET("/ui/static/*", static)
	e.GET("/ui", redirectHome)
	e.GET("/ui/", redirectHome)
	return nil
}

func redirectHome(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/ui/devices") }

// maxNext bounds the page a login returns to; it travels in the login's
// cookie.
const maxNext = 512

// safeNext returns next when it is a path of the UI, else the home page, so
// that a login link cannot send the browser elsewhere.
func safeNext(next string) string {
	if len(next) > maxNext || !strings.HasPrefix(next, PrefixUI) || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ui/login") ||
		strings.HasPrefix(next, "/ui/callback") {
		return "/ui/devices"
	}
	return next
}

// startLogin sends the browser to the IdP. A nonce in a short-lived cookie,
// echoed through the login's payload, binds the callback to this browser.
func (s *server) startLogin(c echo.Context) error {
	if s.login == nil {
		return ErrNoLogin
	}
	nonce, err := randomToken()
	if err != nil {
		return err
	}
	u, err := s.loginURL(c, nonce+" "+safeNext(c.QueryParam("next")))
	if err != nil {
		return fmt.Errorf("start login: %w", err)
	}
	c.SetCookie(s.cookie(loginCookie, nonce, "/ui/", s.cfg.now().Add(loginTTL)))
	return c.Redirect(http.StatusSeeOther, u)
}

// finishLogin completes the IdP login and starts a session.
func (s *server) finishLogin(c echo.Context) error {
	if s.login == nil {
		return ErrNoLogin
	}
	who, payload, err := s.login.Complete(c.Response(), c.Request())
	if err != nil {
		return fmt.Errorf("complete login: %w: %w", ErrForbidden, err)
	}
	email, groups, until := who.Email, who.Groups, who.Until
	if email == "" {
		return fmt.Errorf("%w: the identity provider sent no email address, which names admins here", ErrForbidden)
	}
	nonce, next, _ := strings.Cut(payload, " ")
	ck, cerr := c.Cookie(loginCookie)
	if cerr != nil || nonce == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(nonce)) != 1 {
		return fmt.Errorf("%w: this login was not started in this browser; start again", ErrForbidden)
	}
	c.SetCookie(s.cookie(loginCookie, "", "/ui/", time.Unix(1, 0)))
	now := s.cfg.now()
	exp := now.Add(s.cfg.ttl)
	if !until.IsZero() && until.Before(exp) {
		exp = until
	}
	if !now.Before(exp) {
		return fmt.Errorf("%w: the IdP session has already ended", ErrForbidden)
	}
	role := admin.RoleOf(admin.Member{Email: email, IdPGroups: groups, PolicyGroups: who.PolicyGroups}, s.cfg.roles)
	p := admin.Principal{Actor: "user:" + email, Email: email, Role: role, User: who.User, Auth: who.Auth}
	if err := s.record(c, p.Actor, "admin.login", "user:"+email, map[string]any{"role": role.Name(), "mfa": who.Auth.MFA}); err != nil {
		return err
	}
	if old, err := c.Cookie(sessionCookie); err == nil {
		s.sess.remove(old.Value) // a login always starts a fresh session
	}
	id, err := s.sess.create(&session{principal: p, user: who.User, groups: groups, expires: exp}, now)
	if err != nil {
		return err
	}
	c.SetCookie(s.cookie(sessionCookie, id, "/", exp))
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

// logout ends the session.
func (s *server) logout(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil {
		s.sess.remove(ck.Value)
	}
	c.SetCookie(s.cookie(sessionCookie, "", "/", time.Unix(1, 0)))
	p := principalOf(c)
	if err := s.record(c, p.Actor, "admin.logout", "user:"+p.Email, nil); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "loggedout.html", view{Title: "Logged out"})
}

// noAccess is the page of a person whose groups map to no admin role.
func (s *server) noAccess(c echo.Context) error {
	sess := sessionOf(c)
	v := s.newView(c, "No access", "")
	v.Data = sess.groups
	return s.render(c, http.StatusForbidden, "noaccess.html", v)
}

// cookie builds an HttpOnly, SameSite=Lax cookie, Secure when configured.
func (s *server) cookie(name, value, path string, exp time.Time) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, Expires: exp, HttpOnly: true,
		Secure: s.cfg.secure, SameSite: http.SameSiteLaxMode}
}

// record writes an audit event of the web layer (logins, logouts).
func (s *server) record(c echo.Context, actor, action, target string, detail any) error {
	ev := wire.AuditEvent{Time: s.cfg.now().UTC(), Actor: actor, Action: action, Target: target,
		Source: c.RealIP(), Detail: detail}
	if err := s.b.RecordAudit(c.Request().Context(), ev); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}
