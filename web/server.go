package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Path prefixes the coordinator routes to the handler New returns.
const (
	// PrefixAPI is the admin JSON API.
	PrefixAPI = "/ward/v1/admin/"
	// PrefixUI is the admin UI.
	PrefixUI = "/ui/"
)

// server is the admin UI and API.
type server struct {
	cfg   *settings
	b     Backend
	login Login // nil: no SSO, API keys only
	sess  *sessions
	views *views
}

// Handler serves the admin UI and JSON API.
type Handler struct {
	http.Handler
	s *server
}

// EndSessions ends every admin session of the person whose Identity.User
// is user (or, for a backend without user references, whose email is
// email), for example when they are disabled, and returns how many ended.
func (h *Handler) EndSessions(user, email string) int { return h.s.sess.removeUser(user, email) }

// Mux is where Mount registers a Handler: the coordinator's HTTP server
// (coordinator.Server.Handle) or an http.ServeMux.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount serves h on m: the JSON API under PrefixAPI, the UI under
// PrefixUI, and a browser opening "/" is sent to the UI.
func (h *Handler) Mount(m Mux) {
	m.Handle(PrefixAPI, h)
	m.Handle(PrefixUI, h)
	m.Handle("GET /{$}", http.RedirectHandler(PrefixUI, http.StatusFound))
}

// New returns the handler for the admin UI (under PrefixUI) and the admin
// JSON API (under PrefixAPI). b must not be nil; l may be nil when the
// coordinator has no identity provider, and then only API keys work.
func New(cfg Config, b Backend, l Login) (*Handler, error) {
	st, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("new web handler: nil Backend")
	}
	v, err := loadViews()
	if err != nil {
		return nil, fmt.Errorf("new web handler: %w", err)
	}
	s := &server{cfg: st, b: b, login: l, sess: newSessions(st.sessions, st.log), views: v}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = st.ipExtractor()
	e.Use(securityHeaders)
	s.apiRoutes(e.Group("/ward/v1/admin", s.apiAuth))
	if err := s.publicRoutes(e); err != nil {
		return nil, fmt.Errorf("new web handler: %w", err)
	}
	s.pageRoutes(e.Group("/ui", s.pageAuth))
	return &Handler{Handler: e, s: s}, nil
}

// handleError is the one place where a failed request becomes a response:
// JSON under the API, an HTML page elsewhere.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := StatusOf(err)
	r := c.Request()
	switch {
	case code >= 500:
		s.cfg.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// Refusals are security events; errors never carry secrets.
		s.cfg.log.Info("admin request refused", "method", r.Method, "path", r.URL.Path, "status", code,
			"remote", c.RealIP(), "actor", principalOf(c).Actor, "err", err)
	}
	if errors.Is(err, ErrStepUp) && !isAPI(c) {
		_ = c.Redirect(http.StatusSeeOther, stepUpPath(refererPage(c)))
		return
	}
	if isAPI(c) {
		if code == http.StatusUnauthorized && c.Response().Header().Get("WWW-Authenticate") == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ward"`)
		}
		writeAPIError(c, code, err)
		return
	}
	s.renderError(c, code, publicMessage(err, code))
}
