package coordinator

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// The per-source limits of the calls anyone can make without a credential
// default to numbers a real fleet does not reach. A fleet that restarts
// behind one NAT is one source: 1,000 devices make 2,000 control calls (a
// challenge and a session each), which the control burst takes at once;
// 10,000 devices get through in about three minutes at 100 a second, their
// retries paced by their backoff. Registering and rotating count in the
// same class (a session costs nothing to make, so they are as good as
// unauthenticated): 1,000 devices enrolling at once behind one NAT make
// 3,000 calls and the last get through some ten seconds later. A browser login is two or three calls
// (start, callback, and for a device its link), so an office behind one
// NAT can start 100 logins at once and 3 a second after that.

// limitClass is a group of endpoints sharing one limiter.
type limitClass int

const (
	notLimited limitClass = iota
	// limitControl: the session handshake of nodes, their registration
	// and key rotation (JSON answers).
	limitControl
	// limitLoginAPI: a node starting an interactive login (JSON answers).
	// Its session costs nothing to make, so it counts as unauthenticated.
	limitLoginAPI
	// limitLoginPage: the pages a browser opens or posts to during a login.
	limitLoginPage
)

// classOf returns the limit class of r's endpoint. It goes by the decoded
// path, whatever the method, so that no spelling of a path escapes it.
func classOf(r *http.Request) limitClass {
	switch p := r.URL.Path; {
	case p == wire.PathChallenge, p == wire.PathSession, p == wire.PathRegister, p == wire.PathRotate,
		strings.HasPrefix(p, wire.PathRelay): // the relay's upgrade and its tokens
		return limitControl
	case p == wire.PathLogin:
		return limitLoginAPI
	case p == "/ui/login", p == PathUICallback, p == wire.PathOIDCCallback, p == wire.PathLoginConfirm,
		strings.HasPrefix(p, wire.PathLoginBrowser):
		return limitLoginPage
	}
	return notLimited
}

// limiters are the per-source limiters of the unauthenticated endpoints.
type limiters struct {
	control, login *ratelimit.Keyed[netip.Prefix]
	// refused counts calls answered 429, by class: those of this type's
	// limiters, "report" for the per-node report limit and "map" for map
	// streams refused admission.
	refused *prometheus.CounterVec
}

func newLimiters(cfg *Config, reg prometheus.Registerer) *limiters {
	l := &limiters{
		control: ratelimit.New[netip.Prefix](cfg.ControlEvery, cfg.ControlBurst, cfg.RateLimitSources),
		login:   ratelimit.New[netip.Prefix](cfg.LoginEvery, cfg.LoginBurst, cfg.RateLimitSources),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_rate_limited_total",
			Help: "Calls refused (429) by a rate limit: per source address (control, login), per node (report, update) or map streams opening at once (map)."}, []string{"class"}),
	}
	reg.MustRegister(l.refused) // a fresh registry per server: cannot collide
	return l
}

// limitUnauthenticated answers 429 with Retry-After to a source past its
// limit on the endpoints anyone may call, and passes everything else on.
func (s *Server) limitUnauthenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class := classOf(r)
		if class == notLimited {
			next.ServeHTTP(w, r)
			return
		}
		lim, name := s.limits.control, "control"
		if class != limitControl {
			lim, name = s.limits.login, "login"
		}
		ok, after := lim.Allow(sourceOf(r), time.Now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		s.limits.refused.WithLabelValues(name).Inc()
		err := &retryAfterError{what: "calls from this address", after: after}
		setRetryAfter(w, err)
		if class == limitLoginPage {
			http.Error(w, "Too many login attempts from your network. Try again in a moment.", statusOf(err))
			return
		}
		s.writeError(w, r, err)
	})
}

// sourceOf is the source r is counted as: its client address (see
// ClientAddr), never a header an untrusted client could set. An IPv4
// address counts alone, an IPv6 address with its /64, the block one host
// or one customer's LAN normally holds.
func sourceOf(r *http.Request) netip.Prefix {
	addr := ClientAddr(r)
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
