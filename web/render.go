package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
)

//go:embed templates
var templateFS embed.FS

// views holds one parsed template set per page (the layout plus the page).
type views struct {
	pages map[string]*template.Template
}

// loadViews parses every page template with the shared layout.
func loadViews() (*views, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, path := range names {
		name := strings.TrimPrefix(path, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", path)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		v.pages[name] = t
	}
	return v, nil
}

// view is what every page template gets.
type view struct {
	Title string
	// Active names the navigation entry to highlight.
	Active string
	// Who is the logged-in person; zero on public pages.
	Who  admin.Principal
	CSRF string
	// Flash is a one-line confirmation of the last action; may be empty.
	Flash string
	// CanPolicy, CanFleet and CanAPIKeys tell which controls to show (the
	// server checks again on every request).
	CanPolicy, CanFleet, CanAPIKeys bool
	// Data is the page's own data.
	Data any
}

// newView fills the common fields of a page for c's session.
func (s *server) newView(c echo.Context, title, active string) view {
	v := view{Title: title, Active: active, Who: principalOf(c), Flash: flashes[c.QueryParam("done")]}
	if sess := sessionOf(c); sess != nil {
		v.CSRF = sess.csrf
	}
	v.CanPolicy, v.CanFleet, v.CanAPIKeys = v.Who.Role.Can(admin.PermPolicy), v.Who.Role.Can(admin.PermFleet), v.Who.Role.Can(admin.PermAPIKeys)
	return v
}

// flashes are the confirmations a redirect after an action may ask for
// (?done=KEY); a fixed set, so that no link can make the page say anything.
var flashes = map[string]string{
	"tags": "Tags saved.", "routes": "Routes saved.", "expired": "The device's key is expired.", "approved": "The device may rotate to a new key.", "removed": "The device was removed.",
	"disabled": "The user is disabled; their keys are cut.", "enabled": "The user is enabled again.", "rebound": "The email now belongs to the other account; its holder is disabled.",
	"revoked": "The key is revoked.", "rolledback": "The policy was rolled back as a new version.",
	"alertrules": "Alert rules saved; they are in force.", "alertrules-rolledback": "The alert rules were rolled back as a new version.",
	"rollout-paused": "The rollout is paused.", "rollout-running": "The rollout runs again.", "rollout-aborted": "The rollout is aborted.",
}

// render executes page name into a buffer, then writes it with code.
func (s *server) render(c echo.Context, code int, name string, v view) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("render %s: no such template", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}

// renderError shows an error page; failing that, plain text.
func (s *server) renderError(c echo.Context, code int, msg string) {
	v := s.newView(c, http.StatusText(code), "")
	v.Data = struct {
		Code int
		Msg  string
	}{code, msg}
	if err := s.render(c, code, "error.html", v); err != nil {
		s.cfg.log.Error("render error page", "err", err)
		_ = c.String(code, msg)
	}
}

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join":         strings.Join,
	"trimUser":     func(actor string) string { return strings.TrimPrefix(actor, "user:") },
	"roleName":     admin.Role.Name,
	"detailFields": detailFields,
	"indentJSON":   indentJSON,
	// durationMillis formats a duration in milliseconds ("2h0m0s").
	"durationMillis": func(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() },
	// inc counts from one what Go counts from zero.
	"inc": func(i int) int { return i + 1 },
}
