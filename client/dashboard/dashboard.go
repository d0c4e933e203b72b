// Package dashboard is the desktop client's local status page, served by
// the daemon on 127.0.0.1: login state, user, session expiry, the devices
// the person may reach with their ports, copy-ready `ward ssh` and `ward
// forward` commands, and a form that requests time-bound access (as
// `ward request` does) above the person's requests and their decisions.
// The page keeps itself current (assets/live.js asks for it again every
// 2 s and swaps in what changed, never the form being typed in).
//
// # Protections
//
// The page is reachable by any local program and by any web page the
// person visits, so:
//
//   - DNS rebinding: a request is served only when its Host header is
//     127.0.0.1:PORT, localhost:PORT or [::1]:PORT for the bound port, so a
//     page of evil.example that rebinds its name to 127.0.0.1 gets 403.
//   - CSRF and reading: every route lives under /t/TOKEN/, where TOKEN is
//     32 random bytes made at each start and shown only through the client
//     API (a unix socket of mode 0600) by `ward status` and `ward up`. A
//     request without it gets 403. The state-changing routes (POST
//     logout, POST request) also refuse a cross-site Origin or
//     Sec-Fetch-Site.
//   - Content: html/template, a strict Content-Security-Policy (no inline
//     script or style; scripts and styles only from the page's own
//     origin), no framing, no referrer (the token is in the URL), no
//     caching.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

//go:embed assets
var assets embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.RFC1123) + " (in " + time.Until(t).Round(time.Minute).String() + ")"
	},
}).ParseFS(assets, "assets/page.html"))

// csp allows nothing but the page's own stylesheet, scripts, form and
// fetches (live.js asks the page again).
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Page is what the status page shows.
type Page struct {
	// State is the login state ("logged-in", "logged-out", ...); Message
	// a note on it (may be empty).
	State, Message string
	// User, Node, Coordinator and Mode describe the session; may be empty.
	User, Node, Coordinator, Mode string
	// NodeFQDN is Node under the fleet's DNS domain; empty when the map
	// names no domain.
	NodeFQDN string
	// KeyExpiry is when the session ends; zero when logged out.
	KeyExpiry time.Time
	// SOCKS5 and HTTPProxy are the proxies' addresses; empty when off.
	SOCKS5, HTTPProxy string
	// Devices are the peers the person may reach.
	Devices []Device
	// Peers names every peer of the map, the devices a request form
	// offers (a device the person may only request is not among Devices).
	Peers []string
	// Requests are the person's access requests, newest first, as the
	// coordinator pushed them in the map.
	Requests []Request
}

// Device is one reachable peer.
type Device struct {
	Name string
	// FQDN is Name under the fleet's DNS domain, by which the proxies,
	// nc and the overlay resolver also find it; empty when the map names
	// no domain.
	FQDN string
	// Addr is its overlay address; Owner its user or tags.
	Addr, Owner string
	Online      bool
	// Ports are the ports it exposes that the policy grants the person:
	// the page offers commands for these only.
	Ports []uint16
	// Granted says what the policy grants the person on it ("tcp 80,
	// 443, 554"), exposed or not; empty when unknown.
	Granted string
}

// Config configures a Server.
type Config struct {
	// Page returns what to show now; required.
	Page func() Page
	// Logout logs the person out (POST from the page); required.
	Logout func(ctx context.Context) error
	// Request files access requests (POST from the page's request form)
	// as `ward request` does; nil: the page offers no form.
	Request func(ctx context.Context, r NewRequest) error
	// CLIFlags are flags every shown command needs (e.g. "--state-dir
	// /x"); may be empty.
	CLIFlags string
	// SSHUser is the user name shown in `ward ssh` commands.
	SSHUser string
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves the status page on one listener.
type Server struct {
	cfg   Config
	token string
	// hosts are the Host header values accepted.
	hosts map[string]bool
	port  int
}

// New makes a Server for a listener bound at addr (a loopback address
// with its actual port) with a fresh token.
func New(cfg Config, addr net.Addr) (*Server, error) {
	if cfg.Page == nil || cfg.Logout == nil {
		return nil, errors.New("dashboard: Page and Logout are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() {
		return nil, fmt.Errorf("dashboard: %v is not a loopback TCP address", addr)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	p := strconv.Itoa(ta.Port)
	s := &Server{cfg: cfg, token: base64.RawURLEncoding.EncodeToString(b), port: ta.Port,
		hosts: map[string]bool{"127.0.0.1:" + p: true, "localhost:" + p: true, "[::1]:" + p: true}}
	return s, nil
}

// URL is the page's address, token included. Show it only to the person.
func (s *Server) URL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/t/%s/", s.port, s.token)
}

// Handler returns the page's routes behind the Host, token and header
// checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{token}/{$}", s.page)
	mux.HandleFunc("GET /t/{token}/style.css", s.asset("assets/style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /t/{token}/copy.js", s.asset("assets/copy.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /t/{token}/live.js", s.asset("assets/live.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("POST /t/{token}/logout", s.logout)
	if s.cfg.Request != nil {
		mux.HandleFunc("POST /t/{token}/request", s.request)
	}
	return s.guard(mux)
}

// guard sets the security headers, refuses a foreign Host header and a
// missing or wrong token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.hosts[r.Host] {
			http.Error(w, "forbidden: unexpected Host header", http.StatusForbidden)
			return
		}
		if !s.validToken(r.URL.Path) {
			http.Error(w, "forbidden: open the link that `ward status` prints", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validToken reports whether path is under /t/TOKEN/ (constant time).
func (s *Server) validToken(path string) bool {
	const prefix = "/t/"
	if len(path) < len(prefix)+len(s.token)+1 || path[:len(prefix)] != prefix {
		return false
	}
	tok := path[len(prefix) : len(prefix)+len(s.token)]
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 && path[len(prefix)+len(s.token)] == '/'
}

func (s *Server) asset(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "")
}

// render writes the page with status code and notice (a form's refusal;
// may be empty).
func (s *Server) render(w http.ResponseWriter, code int, notice string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	v := s.view(s.cfg.Page())
	v.Notice, v.CanRequest = notice, s.cfg.Request != nil
	if err := pageTmpl.Execute(w, v); err != nil {
		s.cfg.Logger.Warn("render status page", "err", err)
	}
}

// logout logs out on a same-origin POST, then shows the page again.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r, s.hosts) {
		http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
		return
	}
	if err := s.cfg.Logout(r.Context()); err != nil {
		s.cfg.Logger.Warn("logout from the status page", "err", err)
	}
	http.Redirect(w, r, "/t/"+s.token+"/", http.StatusSeeOther)
}

// sameOrigin refuses requests a browser marks as cross-site or whose
// Origin is not this server.
func sameOrigin(r *http.Request, hosts map[string]bool) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		const scheme = "http://"
		if len(o) <= len(scheme) || o[:len(scheme)] != scheme || !hosts[o[len(scheme):]] {
			return false
		}
	}
	return true
}
