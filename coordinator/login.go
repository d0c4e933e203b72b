package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// Authenticator is the coordinator's seam to the identity provider (package
// coordinator/sso implements it over OIDC).
type Authenticator interface {
	// AuthURL starts a login whose result carries payload and returns the
	// IdP page to send the browser of r to. It may set cookies through w
	// (the login's state travels in the browser), so it is called before
	// the response is written.
	AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error)
	// Complete finishes the login from the IdP's redirect r to the callback
	// and returns who logged in, until when their IdP session is valid, and
	// the payload given to AuthURL. It refuses a bad state, a replayed
	// code, an invalid token and a login without a required second factor.
	// It may clear cookies through w, before the response is written.
	Complete(w http.ResponseWriter, r *http.Request) (id store.Identity, validUntil time.Time, payload string, err error)
}

// Login errors.
var (
	errNoSSO        = errors.New("interactive login is not configured on this coordinator (no identity provider)")
	errLoginUnknown = errors.New("unknown or expired login")
)

// logins runs people's interactive logins: a node asks for one (with its
// control session), the person signs in at the IdP and confirms the
// device in the browser, and their node gets a key that lives as long as
// the IdP session allows; the admins' UI logins (AdminLogin) use the same
// IdP. With a Refresher, it asks the IdP again about every person with a
// live key and cuts those it refuses.
type logins struct {
	*core
	// pending holds the logins waiting for their person.
	pending pendingLogins
	// adminLogin logs admins in to the UI; nil without an IdP.
	adminLogin *AdminLogin
}

func newLogins(c *core) *logins {
	l := &logins{core: c}
	l.pending.st, l.pending.perSource = c.st, c.cfg.MaxPendingLoginsPerSource
	return l
}

func (s *logins) loginRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+wire.PathLogin, s.handleLogin)
	mux.HandleFunc("GET "+wire.PathLoginWait, s.handleLoginWait)
	mux.HandleFunc("POST "+wire.PathLogout, s.handleLogout)
	mux.HandleFunc("GET "+wire.PathLoginBrowser+"{id}", s.handleLoginBrowser)
	mux.HandleFunc("GET "+wire.PathOIDCCallback, s.handleCallback)
	mux.HandleFunc("POST "+wire.PathLoginConfirm, s.handleLoginConfirm)
}

func (s *logins) handleLogin(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cfg.Auth == nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", errForbidden, errNoSSO))
		return
	}
	var req wire.LoginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.WGKey.IsZero() || len(req.Hostname) > 255 || len(req.OS) > 64 || len(req.Version) > 64 {
		s.writeError(w, r, fmt.Errorf("%w: wg_key is required; hostname, os and version must be short", errBadRequest))
		return
	}
	now := s.pending.now()
	p := newPendingLogin(ss.machine, req, remoteIP(r), now)
	p.source = sourceOf(r)
	id, err := s.pending.add(r.Context(), p, now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.LoginResponse{ID: id, URL: s.baseURL(r) + wire.PathLoginBrowser + id, Expires: p.expires, Code: p.code})
}

// baseURL is the coordinator's public URL: the configured one, else the
// request's own scheme and host.
func (s *logins) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *logins) handleLoginWait(w http.ResponseWriter, r *http.Request) {
	ss, err := s.sessionOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // the coordinator stopping ends the wait
	res, err := s.pending.wait(ctx, r.URL.Query().Get("id"), ss.machine, loginWaitMax)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		s.writeError(w, r, err)
	case res == nil:
		writeJSON(w, http.StatusOK, wire.LoginResult{})
	default:
		writeJSON(w, http.StatusOK, *res)
	}
}

// keyTTL is how long a person's key lives: the configured default (12h),
// shortened by any of their groups' limits and by the IdP session.
func (s *core) keyTTL(groups []string, until time.Time, now time.Time) time.Duration {
	ttl := s.cfg.UserKeyTTL
	for _, g := range groups {
		if d, ok := s.cfg.GroupKeyTTL[policyGroup(g)]; ok && d < ttl {
			ttl = d
		}
	}
	if !until.IsZero() && until.Sub(now) < ttl {
		ttl = until.Sub(now)
	}
	return ttl
}

// completeLogin records the user and registers (or re-keys) their node.
func (s *logins) completeLogin(ctx context.Context, p *pendingLogin, id store.Identity, until time.Time) (store.Node, error) {
	now := time.Now().UTC()
	u, err := s.admitUser(ctx, id, p.from)
	if err != nil {
		return store.Node{}, err
	}
	ttl := s.keyTTL(u.Groups, until, now)
	if d := s.nm.riskKeyLifetime(u.Email); d > 0 && d < ttl {
		ttl = d // the policy's risk classes shorten the keys of people reaching them
	}
	exp := now.Add(ttl)
	n, err := s.registerOrRekey(ctx, p, u, exp, now)
	if err != nil {
		return store.Node{}, err
	}
	if err := s.refreshUsers(ctx); err != nil {
		return store.Node{}, err
	}
	if n, err = s.reloadNode(ctx, n.ID); err != nil {
		return store.Node{}, err
	}
	s.audit(ctx, "user:"+u.Email, "user.login", "node:"+n.Name, p.from,
		map[string]any{"groups": u.Groups, "key_expiry": exp, "key": p.req.WGKey.ShortString()})
	return n, nil
}

func (s *logins) registerOrRekey(ctx context.Context, p *pendingLogin, u store.User, exp, now time.Time) (store.Node, error) {
	existing, err := s.st.NodeByMachineKey(ctx, store.MachinePublic(p.machine))
	switch {
	case err == nil:
		if existing.UserID != u.ID || len(existing.Tags) > 0 {
			return store.Node{}, fmt.Errorf("this machine is registered to another owner; remove node %s first", existing.Name)
		}
		if err := s.st.RotateWGKey(ctx, existing.ID, store.KeyRotation{Key: store.WGPublic(p.req.WGKey), Expiry: exp,
			Rule: store.RotateLogin}); err != nil {
			return store.Node{}, fmt.Errorf("re-key node %s: %w", existing.Name, err)
		}
		return s.st.Node(ctx, existing.ID)
	case errors.Is(err, store.ErrNotFound):
		return s.st.RegisterWithUser(ctx, u.ID, now, store.NewNode{Name: dnsname.Label(p.req.Hostname), Hostname: p.req.Hostname,
			OS: p.req.OS, Version: p.req.Version, MachineKey: store.MachinePublic(p.machine), WGKey: store.WGPublic(p.req.WGKey), KeyExpiry: exp})
	default:
		return store.Node{}, err
	}
}

func (s *logins) handleLogout(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now().UTC()
	if err := s.st.SetKeyExpiry(r.Context(), n.ID, now); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.reloadNode(r.Context(), n.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), "node:"+n.Name, "user.logout", "node:"+n.Name, remoteIP(r), map[string]any{"user": s.nm.emailOf(n.UserID)})
	w.WriteHeader(http.StatusNoContent)
}
