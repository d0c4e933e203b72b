package webtest

import (
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wardnet/ward/admin"
)

// IdPPath is where an IdP's Handler serves its login form.
const IdPPath = "/idp/login"

// Person is an account of the test IdP.
type Person struct {
	Email, Password string
	Groups          []string
	// MFA makes the person's logins show a second factor.
	MFA bool
}

// IdP is a test identity provider with a real HTML login form, and the
// web.Login that talks to it. Its flow is the OIDC code flow in miniature:
// AuthURL records a state; the form, once the password is right, redirects
// to the callback with a one-time code; Complete redeems code and state
// once. It is safe for concurrent use.
type IdP struct {
	callback string
	session  time.Duration
	people   map[string]Person

	mu sync.Mutex // mu guards the following
	// states maps a pending login's state to its payload.
	states map[string]string
	// codes maps an issued, unredeemed code to its login.
	codes map[string]issued
}

type issued struct {
	state, payload string
	who            Person
}

// NewIdP returns an IdP that sends browsers back to callback (a path such
// as "/ui/callback" or an absolute URL) and whose sessions last session.
func NewIdP(callback string, session time.Duration, people ...Person) *IdP {
	p := &IdP{callback: callback, session: session, people: map[string]Person{}, states: map[string]string{}, codes: map[string]issued{}}
	for _, x := range people {
		p.people[x.Email] = x
	}
	return p
}

// AuthURL implements web.Login.
func (p *IdP) AuthURL(_ http.ResponseWriter, _ *http.Request, payload string) (string, error) {
	state, _, err := newSecret("st")
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states[state] = payload
	return IdPPath + "?state=" + url.QueryEscape(state), nil
}

// Complete implements web.Login: the code and state must match and are
// good once.
func (p *IdP) Complete(_ http.ResponseWriter, r *http.Request) (admin.Identity, string, error) {
	code, state := r.URL.Query().Get("code"), r.URL.Query().Get("state")
	p.mu.Lock()
	defer p.mu.Unlock()
	is, ok := p.codes[code]
	if !ok || is.state != state {
		return admin.Identity{}, "", fmt.Errorf("unknown, used or mismatched code")
	}
	delete(p.codes, code)
	return admin.Identity{Email: is.who.Email, Groups: is.who.Groups, Until: time.Now().Add(p.session),
		Auth: admin.Auth{Time: time.Now(), MFA: is.who.MFA}}, is.payload, nil
}

// ServeHTTP serves the login form (GET) and checks it (POST).
func (p *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	state := r.FormValue("state")
	p.mu.Lock()
	_, pending := p.states[state]
	p.mu.Unlock()
	if !pending {
		http.Error(w, "unknown login state", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		p.form(w, state, "", http.StatusOK)
		return
	}
	who, ok := p.people[r.FormValue("email")]
	if !ok || subtle.ConstantTimeCompare([]byte(who.Password), []byte(r.FormValue("password"))) != 1 {
		p.form(w, state, "Wrong email or password.", http.StatusUnauthorized)
		return
	}
	code, _, err := newSecret("code")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.codes[code] = issued{state: state, payload: p.states[state], who: who}
	delete(p.states, state)
	p.mu.Unlock()
	http.Redirect(w, r, p.callback+"?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(state), http.StatusSeeOther)
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP · Sign in</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body><main><section class="card narrow"><h1>Sign in</h1>
{{if .Err}}<p class="error-msg" id="idp-error">{{.Err}}</p>{{end}}
<form method="post" action="` + IdPPath + `" class="stack" id="idp-form">
<input type="hidden" name="state" value="{{.State}}">
<label>Email<input name="email" id="email" autocomplete="username"></label>
<label>Password<input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="signin">Sign in</button>
</form></section></main></body></html>`))

func (p *IdP) form(w http.ResponseWriter, state, msg string, code int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	_ = loginForm.Execute(w, struct{ State, Err string }{state, msg})
}
