package devidp

import (
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the login form, under the issuer's path.
const (
	loginPath = "/login"
	otpPath   = "/login/otp"
)

const defaultUsersHint = "Demo users: alice, bob and carol; the password is the username; alice's one-time code is 123456."

//go:embed login.html
var loginHTML string

var loginTemplate = template.Must(template.New("login").Parse(loginHTML))

// login serves the HTML login form: a password step and, for users with
// MFA, a one-time code step. The op package sends the browser here with
// ?id=<auth request id>; on success the form sends it back to the op's
// callback, which redirects to the client with a code.
type login struct {
	cfg      *settings
	store    *storage
	callback func(context.Context, string) string
}

// page is what the login template shows.
type page struct {
	Step     string // "password", "otp" or "" (error only)
	Action   string
	ID       string
	Username string
	Error    string
	Hint     string
}

// show renders the password step and binds the login to this browser.
func (l *login) show(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	binding, err := l.store.bindBrowser(id)
	if err != nil {
		l.render(w, http.StatusBadRequest, page{Error: err.Error()})
		return
	}
	http.SetCookie(w, l.cookie(id, binding))
	l.render(w, http.StatusOK, l.passwordPage(id, "", nil))
}

// password handles the password step.
func (l *login) password(w http.ResponseWriter, r *http.Request) {
	id, username := r.PostFormValue("id"), r.PostFormValue("username")
	step, err := l.store.checkPassword(id, l.binding(r, id), username, r.PostFormValue("password"))
	switch {
	case errors.Is(err, errBadCredentials):
		l.cfg.log.Info("dev idp login refused", "username", username, "reason", err.Error())
		l.render(w, http.StatusOK, l.passwordPage(id, username, err))
	case err != nil:
		l.cfg.log.Info("dev idp login refused", "username", username, "reason", err.Error())
		l.render(w, http.StatusBadRequest, page{Error: err.Error()})
	case step == stepOTP:
		l.render(w, http.StatusOK, l.otpPage(id, nil))
	default:
		l.finish(w, r, id)
	}
}

// otp handles the one-time code step.
func (l *login) otp(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("id")
	err := l.store.checkOTP(id, l.binding(r, id), r.PostFormValue("otp"))
	switch {
	case errors.Is(err, errBadOTP):
		l.cfg.log.Info("dev idp login refused", "reason", err.Error())
		l.render(w, http.StatusOK, l.otpPage(id, err))
	case err != nil:
		l.cfg.log.Info("dev idp login refused", "reason", err.Error())
		l.render(w, http.StatusBadRequest, page{Error: err.Error()})
	default:
		l.finish(w, r, id)
	}
}

// finish sends the browser to the op's callback for the request id.
func (l *login) finish(w http.ResponseWriter, r *http.Request, id string) {
	ctx := op.ContextWithIssuer(r.Context(), l.cfg.issuer)
	http.Redirect(w, r, l.callback(ctx, id), http.StatusSeeOther)
}

func (l *login) passwordPage(id, username string, err error) page {
	p := page{Step: "password", Action: l.cfg.prefix + loginPath, ID: id, Username: username, Hint: l.cfg.hint}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}

func (l *login) otpPage(id string, err error) page {
	p := page{Step: "otp", Action: l.cfg.prefix + otpPath, ID: id, Hint: l.cfg.hint}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}

// cookieName is per auth request, so logins in two tabs don't clash.
func cookieName(id string) string { return "devidp_login_" + id }

func (l *login) cookie(id, binding string) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName(id),
		Value:    binding,
		Path:     l.cfg.prefix + loginPath,
		MaxAge:   int(requestTTL.Seconds()),
		HttpOnly: true,
		Secure:   l.cfg.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

func (l *login) binding(r *http.Request, id string) string {
	c, err := r.Cookie(cookieName(id))
	if err != nil {
		return ""
	}
	return c.Value
}

func (l *login) render(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := loginTemplate.ExecuteTemplate(w, "page", p); err != nil {
		l.cfg.log.Warn("dev idp render login page", "err", err.Error())
	}
}
