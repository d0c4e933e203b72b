package coordinator

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

const (
	// loginOpenTTL is how long a login link may wait to be opened.
	loginOpenTTL = 10 * time.Minute
	// loginConfirmTTL is how long the confirmation page waits for the
	// person's decision once the IdP has said who they are.
	loginConfirmTTL = 5 * time.Minute
	// loginTTL is a pending login's whole life: opened, then confirmed.
	loginTTL        = loginOpenTTL + loginConfirmTTL
	maxPendingLogin = 10000
	// DefaultMaxPendingPerSource is Config.MaxPendingLoginsPerSource's
	// default.
	DefaultMaxPendingPerSource = 64
	loginWaitMax               = 25 * time.Second
)

// Refusals of a login's browser steps. Each is shown to the person as it
// reads and maps to its status through the kind it wraps.
var (
	errLinkUnknown  = refusal(store.ErrNotFound, "This login link is unknown or has expired. Run `ward up` (or `ward login`) again on the device.")
	errLinkUsed     = refusal(store.ErrConflict, "This login link was already used: a link works only once. Run `ward up` (or `ward login`) again on the device for a new one.")
	errLinkLate     = refusal(store.ErrNotFound, "This login link has expired: it must be opened within 10 minutes. Run `ward up` (or `ward login`) again on the device.")
	errStepUsed     = refusal(store.ErrConflict, "This step of the login was already used. Nothing was changed; if the device is not connected, run `ward up` again on it.")
	errOtherBrowser = refusal(errForbidden, "This login was not opened in this browser. Open the link the device printed in this browser, or run `ward up` again on the device.")
	errNotSignedIn  = refusal(errForbidden, "This login has not passed the identity provider in this browser yet. Open the link the device printed.")
	errBadCSRF      = refusal(errForbidden, "This confirmation did not come from the confirmation page in this browser (missing or wrong form token). Nothing was changed.")
	errConfirmLate  = refusal(store.ErrNotFound, "This confirmation has expired: the device was not connected. Run `ward up` again on the device.")
	errBadDecision  = refusal(errBadRequest, "The form did not say whether to connect the device. Nothing was changed.")
)

// refusalError is a refusal for a person's browser: its text reads as a
// page, and it wraps the kind that statusOf maps to a status.
type refusalError struct {
	kind error
	msg  string
}

func refusal(kind error, msg string) error { return &refusalError{kind: kind, msg: msg} }

// Error returns the text for the person.
func (e *refusalError) Error() string { return e.msg }

// Unwrap returns the kind, for statusOf.
func (e *refusalError) Unwrap() error { return e.kind }

// loginStep is where a pending login stands. It only moves forward.
type loginStep int

const (
	// stepCreated: the node asked; the link waits to be opened.
	stepCreated loginStep = iota
	// stepOpened: a browser opened the link and went to the IdP.
	stepOpened
	// stepSignedIn: the IdP said who the person is; the confirmation page
	// waits for their decision.
	stepSignedIn
	// stepDecided: confirmed, cancelled, refused or lapsed; nothing more is
	// accepted.
	stepDecided
)

// pendingLogins holds pending interactive logins.
type pendingLogins struct {
	mu sync.Mutex
	// mu guards the following, and the fields of each pendingLogin that
	// say so.
	pending map[string]*pendingLogin
	// bySource counts pending logins per source (see sourceOf).
	bySource map[netip.Prefix]int
	// size bounds pending; 0 means maxPendingLogin (tests set less).
	size int
	// perSource bounds the pending logins asked from one source; 0 means
	// DefaultMaxPendingPerSource. Set before the first add, never changed.
	perSource int
	// clock tells the time; nil means time.Now (tests set another).
	clock func() time.Time
}

// now returns the logins' time.
func (l *pendingLogins) now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clock != nil {
		return l.clock()
	}
	return time.Now()
}

// pendingLogin is one interactive login, from the node's request to the
// person's decision. The fields above mu's are set when it is made and
// never change.
type pendingLogin struct {
	machine wire.MachinePublic
	req     wire.LoginRequest
	// from is the requesting machine's source address; source the block
	// it is counted in (sourceOf).
	from   string
	source netip.Prefix
	// code is the short code the node shows the person.
	code    string
	started time.Time
	// openBy is when the link stops opening; expires when the login ends.
	openBy  time.Time
	expires time.Time
	// done is closed once result is set.
	done chan struct{}

	// Guarded by pendingLogins.mu:
	step loginStep
	// browser is the token of the browser that opened the link (its
	// cookie); csrf the confirmation form's token (its cookie and field).
	browser string
	csrf    string
	// who and until are what the IdP said; confirmBy ends the decision.
	who       store.Identity
	until     time.Time
	confirmBy time.Time
	result    wire.LoginResult
}

// newPendingLogin makes the pending login a node asked for at now.
func newPendingLogin(m wire.MachinePublic, req wire.LoginRequest, from string, now time.Time) *pendingLogin {
	return &pendingLogin{machine: m, req: req, from: from, code: newLoginCode(), started: now,
		openBy: now.Add(loginOpenTTL), expires: now.Add(loginTTL), done: make(chan struct{})}
}

// codeAlphabet is 20 consonants (as RFC 8628 §6.1 suggests): no vowels, so
// no words, and no digits to mistake for letters.
const codeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newLoginCode returns a random code "XXXX-XXXX" (about 34 bits).
func newLoginCode() string {
	var b strings.Builder
	var one [1]byte
	for b.Len() < 9 {
		if b.Len() == 4 {
			b.WriteByte('-')
			continue
		}
		rand.Read(one[:]) // never fails (crypto/rand)
		if int(one[0]) >= 256/len(codeAlphabet)*len(codeAlphabet) {
			continue // no modulo bias
		}
		b.WriteByte(codeAlphabet[int(one[0])%len(codeAlphabet)])
	}
	return b.String()
}

// tokenEqual compares a presented token with the expected one in constant
// time; an empty expected token matches nothing.
func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// add records p and returns its id. A session costs nothing to make, so
// whoever asks is bounded where they ask from: a machine has one login
// going at a time (a new one replaces an unopened earlier one), a source
// has at most perSource, and when the table is full an unopened
// login goes: the busiest source's oldest. A login whose link the person
// opened stays; a flood from many addresses can push out only logins
// nobody opened, oldest first.
func (l *pendingLogins) add(p *pendingLogin, now time.Time) (string, error) {
	id := rand.Text()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending, l.bySource = map[string]*pendingLogin{}, map[netip.Prefix]int{}
	}
	for k, v := range l.pending {
		if now.After(v.expires) || (v.machine == p.machine && v.step == stepCreated) {
			l.deleteLocked(k)
		}
	}
	if l.bySource[p.source] >= cmp.Or(l.perSource, DefaultMaxPendingPerSource) {
		return "", &retryAfterError{what: "too many pending logins from this address", after: loginOpenTTL}
	}
	if len(l.pending) >= cmp.Or(l.size, maxPendingLogin) && !l.evictLocked() {
		return "", fmt.Errorf("%w: too many pending logins", errRateLimited)
	}
	l.pending[id] = p
	l.bySource[p.source]++
	return id, nil
}

// deleteLocked forgets login id.
func (l *pendingLogins) deleteLocked(id string) {
	p, ok := l.pending[id]
	if !ok {
		return
	}
	delete(l.pending, id)
	if l.bySource[p.source]--; l.bySource[p.source] <= 0 {
		delete(l.bySource, p.source)
	}
}

// evictLocked forgets one unopened login: of the source holding the most
// pending logins, its oldest. A login whose link a browser opened is never
// forgotten this way. False when no login is unopened.
func (l *pendingLogins) evictLocked() bool {
	victim, most := "", 0
	var oldest time.Time
	for id, p := range l.pending {
		if p.step != stepCreated {
			continue
		}
		n := l.bySource[p.source]
		if victim == "" || n > most || (n == most && p.started.Before(oldest)) {
			victim, most, oldest = id, n, p.started
		}
	}
	if victim == "" {
		return false
	}
	l.deleteLocked(victim)
	return true
}

func (l *pendingLogins) get(id string, now time.Time) (*pendingLogin, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.getLocked(id, now)
}

func (l *pendingLogins) getLocked(id string, now time.Time) (*pendingLogin, bool) {
	p, ok := l.pending[id]
	if !ok || now.After(p.expires) {
		return nil, false
	}
	return p, true
}

// open uses login id's link: it returns the token the opening browser
// keeps for the callback. A link opens once, before its openBy.
func (l *pendingLogins) open(id string, now time.Time) (*pendingLogin, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.getLocked(id, now)
	switch {
	case !ok:
		return nil, "", errLinkUnknown
	case p.step != stepCreated:
		return nil, "", errLinkUsed
	case now.After(p.openBy):
		return nil, "", errLinkLate
	}
	p.step, p.browser = stepOpened, rand.Text()
	return p, p.browser, nil
}

// reopen undoes open when the browser could not be sent to the IdP.
func (l *pendingLogins) reopen(p *pendingLogin) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.step == stepOpened {
		p.step, p.browser = stepCreated, ""
	}
}

// signedIn is what signIn hands the confirmation page.
type signedIn struct {
	// csrf is the confirmation form's token.
	csrf string
	// confirmBy ends the person's decision.
	confirmBy time.Time
}

// signIn records who the IdP says finished login id in the browser that
// shows the token browser, and returns what the confirmation page needs.
// It accepts one callback per login, from the browser that opened the link.
func (l *pendingLogins) signIn(id, browser string, who store.Identity, until, now time.Time) (*pendingLogin, signedIn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.getLocked(id, now)
	switch {
	case !ok:
		return nil, signedIn{}, errLinkUnknown
	case p.step != stepOpened:
		return nil, signedIn{}, errStepUsed
	case !tokenEqual(browser, p.browser):
		return nil, signedIn{}, errOtherBrowser
	}
	p.step, p.csrf, p.who, p.until = stepSignedIn, rand.Text(), who, until
	p.confirmBy = now.Add(loginConfirmTTL)
	if p.confirmBy.After(p.expires) {
		p.confirmBy = p.expires
	}
	return p, signedIn{csrf: p.csrf, confirmBy: p.confirmBy}, nil
}

// decide takes the person's decision on login id once: the form's token
// must be in both the cookie and the field. A wrong token changes nothing.
// It returns the identity the IdP established; errConfirmLate (with p) when
// the decision came too late, which ends the login.
func (l *pendingLogins) decide(id, cookie, field string, now time.Time) (*pendingLogin, store.Identity, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.getLocked(id, now)
	switch {
	case !ok:
		return nil, store.Identity{}, time.Time{}, errLinkUnknown
	case p.step == stepDecided:
		return nil, store.Identity{}, time.Time{}, errStepUsed
	case p.step != stepSignedIn:
		return nil, store.Identity{}, time.Time{}, errNotSignedIn
	case !tokenEqual(cookie, p.csrf) || !tokenEqual(field, p.csrf):
		return nil, store.Identity{}, time.Time{}, errBadCSRF
	}
	p.step = stepDecided
	if now.After(p.confirmBy) {
		return p, store.Identity{}, time.Time{}, errConfirmLate
	}
	return p, p.who, p.until, nil
}

// finish records the result once and ends the login; later calls are
// ignored.
func (l *pendingLogins) finish(p *pendingLogin, res wire.LoginResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p.step = stepDecided
	select {
	case <-p.done:
		return
	default:
	}
	p.result = res
	close(p.done)
}

// loginCookie is a cookie of a login's browser steps that lives ttl (it is
// removed when ttl is not positive): HttpOnly, Secure when the
// coordinator is served over TLS.
func (s *logins) loginCookie(r *http.Request, name, value, path string, ttl time.Duration, site http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: site,
		Secure: r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://"), MaxAge: -1}
	if ttl > 0 {
		c.MaxAge = max(1, int(ttl.Seconds()))
	}
	return c
}

// cookieValue returns the value of r's cookie name, "" when none.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
