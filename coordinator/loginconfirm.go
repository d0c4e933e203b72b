package coordinator

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// The browser steps of an interactive login, after RFC 8628 §5.4: the link
// the node printed works once and sends the browser that opened it to the
// IdP; the IdP's callback, in that same browser, shows a page with the
// requesting device's facts and the code the node printed; only the
// person's "Connect this device" on that page (a form with a CSRF token
// bound to the browser) registers or re-keys the node. So a link made on
// someone else's machine and sent to a person does not connect that
// machine with the person's identity unless they confirm it, knowingly.

// Cookie names, each followed by the login's id (several logins may run in
// one browser).
const (
	// linkCookie binds the callback to the browser that opened the link.
	// SameSite=Lax: it comes back on the IdP's redirect.
	linkCookie = "ward_link_"
	// confirmCookie carries the confirmation form's CSRF token.
	// SameSite=Strict: it is sent only by a form of the coordinator's own
	// pages.
	confirmCookie = "ward_confirm_"
	// linkCookiePath covers the link and the callback.
	linkCookiePath = "/ward/v1/"
	// maxConfirmForm bounds the confirmation form's body.
	maxConfirmForm = 4 << 10
)

// Decisions of the confirmation form.
const (
	decisionConnect = "connect"
	decisionCancel  = "cancel"
)

// errCancelled tells the node that the person refused its login.
var errCancelled = errors.New("the person refused this login on the confirmation page (\"This wasn't me\")")

func (s *logins) handleLoginBrowser(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth == nil {
		loginPage(w, http.StatusNotFound, errNoSSO.Error())
		return
	}
	id, now := r.PathValue("id"), s.pending.now()
	p, token, err := s.pending.open(r.Context(), id, now)
	if err != nil {
		refusalPage(w, err)
		return
	}
	u, err := s.cfg.Auth.AuthURL(w, r, id)
	if err != nil {
		s.pending.reopen(r.Context(), p, now)
		s.log.Error("start sso login", "err", err)
		loginPage(w, http.StatusBadGateway, "The identity provider could not be reached. Try the link again.")
		return
	}
	http.SetCookie(w, s.loginCookie(r, linkCookie+id, token, linkCookiePath, p.expires.Sub(now), http.SameSiteLaxMode))
	http.Redirect(w, r, u, http.StatusFound)
}

func (s *logins) handleCallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth == nil {
		loginPage(w, http.StatusNotFound, errNoSSO.Error())
		return
	}
	who, until, id, err := s.cfg.Auth.Complete(w, r)
	if err != nil {
		s.idpRefused(w, r, who, id, err)
		return
	}
	now := s.pending.now()
	p, si, err := s.pending.signIn(r.Context(), id, cookieValue(r, linkCookie+id), who, until, now)
	if err != nil {
		s.audit(r.Context(), "user:"+who.Email, "user.login_refused", "", remoteIP(r), map[string]any{"reason": err.Error()})
		refusalPage(w, err)
		return
	}
	http.SetCookie(w, s.loginCookie(r, linkCookie+id, "", linkCookiePath, 0, http.SameSiteLaxMode))
	http.SetCookie(w, s.loginCookie(r, confirmCookie+id, si.csrf, wire.PathLoginConfirm, si.confirmBy.Sub(now), http.SameSiteStrictMode))
	confirmPage(w, newConfirmView(p, id, si, who, remoteIP(r), now))
}

// idpRefused answers a callback the IdP (or the relying party's checks)
// refused, and tells the waiting node why.
func (s *logins) idpRefused(w http.ResponseWriter, r *http.Request, who store.Identity, id string, err error) {
	actor := "ip:" + remoteIP(r)
	if who.Email != "" {
		actor = "user:" + who.Email
	}
	s.audit(r.Context(), actor, "user.login_refused", "", remoteIP(r), map[string]any{"error": err.Error()})
	if errors.Is(err, sso.ErrClientRejected) {
		s.log.Error("login: the identity provider refused the coordinator's own client credentials", "err", err)
	}
	if p, perr := s.pending.get(r.Context(), id, s.pending.now()); perr == nil {
		s.finishLogin(r.Context(), p, wire.LoginResult{Done: true, Error: err.Error()})
	}
	loginPage(w, http.StatusForbidden, "Login refused: "+err.Error())
}

func (s *logins) handleLoginConfirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConfirmForm)
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) // as decodeJSON: a decision arrives promptly
	if err := r.ParseForm(); err != nil {
		refusalPage(w, errBadDecision)
		return
	}
	rc.SetReadDeadline(time.Time{})
	id, decision := r.PostFormValue("login"), r.PostFormValue("decision")
	if decision != decisionConnect && decision != decisionCancel {
		refusalPage(w, errBadDecision)
		return
	}
	p, who, until, err := s.pending.decide(r.Context(), id, cookieValue(r, confirmCookie+id), r.PostFormValue("csrf"), s.pending.now())
	if errors.Is(err, errConfirmLate) {
		s.finishLogin(r.Context(), p, wire.LoginResult{Done: true, Error: "the login was not confirmed in the browser in time"})
	}
	if err != nil {
		refusalPage(w, err)
		return
	}
	http.SetCookie(w, s.loginCookie(r, confirmCookie+id, "", wire.PathLoginConfirm, 0, http.SameSiteStrictMode))
	if decision == decisionCancel {
		s.cancelLogin(w, r, p, who)
		return
	}
	s.connectLogin(w, r, p, who, until)
}

// finishLogin tells login p's node res; a failure to record it is
// logged (the node's wait then ends with the login's expiry).
func (s *logins) finishLogin(ctx context.Context, p *pendingLogin, res wire.LoginResult) {
	if err := s.pending.finish(context.WithoutCancel(ctx), p, res); err != nil {
		s.log.Error("record a login's result", "err", err)
	}
}

// deviceFacts are the requesting device's facts, for the audit log.
func deviceFacts(p *pendingLogin) map[string]any {
	return map[string]any{"hostname": p.req.Hostname, "os": p.req.OS, "device_address": p.from, "code": p.code}
}

// cancelLogin ends login p on the person's "This wasn't me" and tells the
// waiting node.
func (s *logins) cancelLogin(w http.ResponseWriter, r *http.Request, p *pendingLogin, who store.Identity) {
	s.audit(r.Context(), "user:"+who.Email, "user.login_refused", "", remoteIP(r),
		map[string]any{"reason": "refused on the confirmation page", "device": deviceFacts(p)})
	s.finishLogin(r.Context(), p, wire.LoginResult{Done: true, Error: errCancelled.Error()})
	loginPage(w, http.StatusOK, "Cancelled: the device was not connected and was told so. If you did not start this login, tell your administrator.")
}

// connectLogin registers or re-keys login p's node as who, on the
// person's "Connect this device", and tells the waiting node.
func (s *logins) connectLogin(w http.ResponseWriter, r *http.Request, p *pendingLogin, who store.Identity, until time.Time) {
	s.audit(r.Context(), "user:"+who.Email, "user.login_confirmed", "", remoteIP(r), map[string]any{"device": deviceFacts(p)})
	n, err := s.completeLogin(r.Context(), p, who, until)
	if err != nil {
		s.finishLogin(r.Context(), p, wire.LoginResult{Done: true, Error: err.Error()})
		loginPage(w, http.StatusForbidden, "Login refused: "+err.Error())
		return
	}
	self, _ := s.nm.selfOf(n.ID)
	s.finishLogin(r.Context(), p, wire.LoginResult{Done: true, Node: &self})
	loginPage(w, http.StatusOK, fmt.Sprintf("You are logged in as %s on %s until %s. You can close this window.",
		who.Email, n.Name, n.KeyExpiry.UTC().Format(time.RFC1123)))
}

// confirmView is what the confirmation page shows.
type confirmView struct {
	// ID and CSRF go back in the form.
	ID, CSRF string
	// User is who the IdP said signed in.
	User string
	// Code, Hostname, OS, From and Started are the requesting device's.
	Code, Hostname, OS, From, Started string
	// Browser is this browser's address; OtherAddress is set when it is not
	// the device's.
	Browser      string
	OtherAddress bool
	ConfirmBy    string
}

// newConfirmView is the page for login id, p, signed in as who from the
// browser at address browser.
func newConfirmView(p *pendingLogin, id string, si signedIn, who store.Identity, browser string, now time.Time) confirmView {
	host := p.req.Hostname
	if host == "" {
		host = "(none given)"
	}
	return confirmView{ID: id, CSRF: si.csrf, User: who.Email, Code: p.code, Hostname: host, OS: p.req.OS, From: p.from,
		Started: fmt.Sprintf("%s (%s ago)", p.started.UTC().Format("2006-01-02 15:04:05 UTC"), now.Sub(p.started).Round(time.Second)),
		Browser: browser, OtherAddress: browser != p.from, ConfirmBy: si.confirmBy.UTC().Format("15:04:05 UTC")}
}

var confirmTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ward: connect this device?</title></head>
<body><main id="confirm">
<h1>Connect this device to Ward?</h1>
<p>You signed in as <strong id="user">{{.User}}</strong>. A device asks to use your identity and your access:</p>
<dl>
<dt>Code</dt><dd><strong id="code">{{.Code}}</strong></dd>
<dt>Device name</dt><dd id="hostname">{{.Hostname}}</dd>
<dt>Operating system</dt><dd id="os">{{.OS}}</dd>
<dt>Address it asked from</dt><dd id="from">{{.From}}</dd>
<dt>Asked at</dt><dd id="started">{{.Started}}</dd>
</dl>
{{if .OtherAddress}}<p id="other-address"><strong>This browser is at {{.Browser}}, not at the device's address.</strong>
That is expected when you log in from a phone or through a proxy, and a warning sign otherwise.</p>{{end}}
<p><strong>Connect only if you started this login yourself, just now, and the device shows the same code.</strong>
If someone sent you this link, choose "This wasn't me": connecting would give them your access.</p>
<form method="post" action="/ward/v1/login/confirm">
<input type="hidden" name="login" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" name="decision" value="connect" id="connect">Connect this device</button>
<button type="submit" name="decision" value="cancel" id="cancel">This wasn't me / Cancel</button>
</form>
<p>Decide by {{.ConfirmBy}}; after that the device is not connected.</p>
</main></body></html>`))

// confirmPage writes the confirmation page: no script, no style, forms
// only to the coordinator itself, never in a frame.
func confirmPage(w http.ResponseWriter, v confirmView) {
	pageHeaders(w)
	w.WriteHeader(http.StatusOK)
	confirmTmpl.Execute(w, v)
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward login</title></head>
<body><h1>Ward</h1><p id="message">{{.}}</p></body></html>`))

// loginPage writes a minimal HTML page (no script, no style).
func loginPage(w http.ResponseWriter, code int, msg string) {
	pageHeaders(w)
	w.WriteHeader(code)
	loginTmpl.Execute(w, msg)
}

// refusalPage shows err, a refusal of a browser step, with its status.
func refusalPage(w http.ResponseWriter, err error) {
	loginPage(w, statusOf(err), err.Error())
}

// pageHeaders sets the headers of the login pages.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}
