package coordinator

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
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

// pendingLogins holds pending interactive logins in the store, so that
// every coordinator on a database serves each step of one (a balancer
// without sticky sessions sends the node's request, the browser's link,
// the IdP's callback, the confirmation and the node's wait anywhere).
// Each step is a compare-and-set of the stored step (AdvancePendingLogin),
// so it happens once whichever coordinators race for it. Secrets are
// stored hashed: the login's id (the link) and the browser's and the
// form's tokens.
type pendingLogins struct {
	// st keeps the logins; set before the first add, never changed.
	st store.PendingLogins
	// size bounds pending; 0 means maxPendingLogin (tests set less).
	size int
	// perSource bounds the pending logins asked from one source; 0 means
	// DefaultMaxPendingPerSource. Set before the first add, never changed.
	perSource int

	mu sync.Mutex // mu guards the following
	// clock tells the time; nil means time.Now (tests set another).
	clock func() time.Time
	// ended is closed (and replaced) when a login ended, here or on
	// another coordinator (wake): waiting nodes read theirs again.
	ended chan struct{}
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

// endedChan returns the channel the next wake closes.
func (l *pendingLogins) endedChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended == nil {
		l.ended = make(chan struct{})
	}
	return l.ended
}

// wake tells the waiting nodes that a login ended (here, or on another
// coordinator: store.ChangeLogin).
func (l *pendingLogins) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended != nil {
		close(l.ended)
		l.ended = nil
	}
}

// pendingLogin is one interactive login, from the node's request to the
// person's decision, as read from the store at one moment.
type pendingLogin struct {
	// key is the SHA-256 of the login's id.
	key     [32]byte
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

	step loginStep
	// browser is the SHA-256 of the token of the browser that opened the
	// link (its cookie); csrf of the confirmation form's token (its
	// cookie and field).
	browser [32]byte
	csrf    [32]byte
	// who and until are what the IdP said; confirmBy ends the decision.
	who       store.Identity
	until     time.Time
	confirmBy time.Time
	// result is set once the login ended.
	result *wire.LoginResult
}

// loginRecord is what a pending login's stored record holds (JSON).
type loginRecord struct {
	Req       wire.LoginRequest `json:"req"`
	From      string            `json:"from"`
	Code      string            `json:"code"`
	OpenBy    time.Time         `json:"open_by"`
	Who       store.Identity    `json:"who,omitzero"`
	Until     time.Time         `json:"until,omitzero"`
	ConfirmBy time.Time         `json:"confirm_by,omitzero"`
}

// stored returns p as the store keeps it.
func (p *pendingLogin) stored() store.PendingLogin {
	rec, _ := json.Marshal(loginRecord{Req: p.req, From: p.from, Code: p.code, OpenBy: p.openBy, Who: p.who,
		Until: p.until, ConfirmBy: p.confirmBy}) // never fails: plain data
	return store.PendingLogin{Key: p.key, Machine: store.MachinePublic(p.machine), Source: p.source.String(),
		Step: int(p.step), Started: p.started, Expires: p.expires, Browser: p.browser, CSRF: p.csrf, Record: rec}
}

// loginOf decodes a stored pending login.
func loginOf(sp store.PendingLogin) (*pendingLogin, error) {
	var rec loginRecord
	if err := json.Unmarshal(sp.Record, &rec); err != nil {
		return nil, fmt.Errorf("decode pending login: %w", err)
	}
	p := &pendingLogin{key: sp.Key, machine: wire.MachinePublic(sp.Machine), req: rec.Req, from: rec.From, code: rec.Code,
		started: sp.Started, openBy: rec.OpenBy, expires: sp.Expires, step: loginStep(sp.Step), browser: sp.Browser,
		csrf: sp.CSRF, who: rec.Who, until: rec.Until, confirmBy: rec.ConfirmBy}
	p.source, _ = netip.ParsePrefix(sp.Source)
	if len(sp.Result) > 0 {
		p.result = new(wire.LoginResult)
		if err := json.Unmarshal(sp.Result, p.result); err != nil {
			return nil, fmt.Errorf("decode pending login's result: %w", err)
		}
	}
	return p, nil
}

// newPendingLogin makes the pending login a node asked for at now.
func newPendingLogin(m wire.MachinePublic, req wire.LoginRequest, from string, now time.Time) *pendingLogin {
	return &pendingLogin{machine: m, req: req, from: from, code: newLoginCode(), started: now.UTC(),
		openBy: now.Add(loginOpenTTL).UTC(), expires: now.Add(loginTTL).UTC()}
}

// loginKey is the stored key of login id.
func loginKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

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

// tokenEqual compares a presented token with the stored hash of the
// expected one in constant time; a zero hash matches nothing.
func tokenEqual(got string, want [32]byte) bool {
	h := sha256.Sum256([]byte(got))
	return want != [32]byte{} && subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

// add records p and returns its id. A session costs nothing to make, so
// whoever asks is bounded where they ask from: a machine has one login
// going at a time (a new one replaces an unopened earlier one), a source
// has at most perSource, and when the table is full an unopened
// login goes: the busiest source's oldest. A login whose link the person
// opened stays; a flood from many addresses can push out only logins
// nobody opened, oldest first (store.AddPendingLogin, one transaction on
// the database every coordinator shares).
func (l *pendingLogins) add(ctx context.Context, p *pendingLogin, now time.Time) (string, error) {
	id := rand.Text()
	p.key = loginKey(id)
	lim := store.PendingLoginLimits{PerSource: cmp.Or(l.perSource, DefaultMaxPendingPerSource), Size: cmp.Or(l.size, maxPendingLogin)}
	err := l.st.AddPendingLogin(ctx, p.stored(), lim, now)
	switch {
	case errors.Is(err, store.ErrPendingSourceFull):
		return "", &retryAfterError{what: "too many pending logins from this address", after: loginOpenTTL}
	case errors.Is(err, store.ErrPendingFull):
		return "", fmt.Errorf("%w: too many pending logins", errRateLimited)
	case err != nil:
		return "", err
	}
	return id, nil
}

// get returns login id as stored now; errLinkUnknown when there is none
// (or it expired).
func (l *pendingLogins) get(ctx context.Context, id string, now time.Time) (*pendingLogin, error) {
	sp, err := l.st.PendingLogin(ctx, loginKey(id), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errLinkUnknown
	}
	if err != nil {
		return nil, err
	}
	return loginOf(sp)
}

// advance stores p, moved on from step from; errUsed when another step
// (here or on another coordinator) got there first.
func (l *pendingLogins) advance(ctx context.Context, p *pendingLogin, from loginStep, now time.Time, errUsed error) error {
	err := l.st.AdvancePendingLogin(ctx, p.stored(), int(from), now)
	if errors.Is(err, store.ErrConflict) {
		return errUsed
	}
	return err
}

// open uses login id's link: it returns the token the opening browser
// keeps for the callback. A link opens once, before its openBy.
func (l *pendingLogins) open(ctx context.Context, id string, now time.Time) (*pendingLogin, string, error) {
	p, err := l.get(ctx, id, now)
	switch {
	case err != nil:
		return nil, "", err
	case p.step != stepCreated:
		return nil, "", errLinkUsed
	case now.After(p.openBy):
		return nil, "", errLinkLate
	}
	token := rand.Text()
	p.step, p.browser = stepOpened, sha256.Sum256([]byte(token))
	if err := l.advance(ctx, p, stepCreated, now, errLinkUsed); err != nil {
		return nil, "", err
	}
	return p, token, nil
}

// reopen undoes open when the browser could not be sent to the IdP.
func (l *pendingLogins) reopen(ctx context.Context, p *pendingLogin, now time.Time) {
	q := *p
	q.step, q.browser = stepCreated, [32]byte{}
	l.advance(ctx, &q, stepOpened, now, errStepUsed) // a login that moved on, or is gone, stays as it is
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
func (l *pendingLogins) signIn(ctx context.Context, id, browser string, who store.Identity, until, now time.Time) (*pendingLogin, signedIn, error) {
	p, err := l.get(ctx, id, now)
	switch {
	case err != nil:
		return nil, signedIn{}, err
	case p.step != stepOpened:
		return nil, signedIn{}, errStepUsed
	case !tokenEqual(browser, p.browser):
		return nil, signedIn{}, errOtherBrowser
	}
	csrf := rand.Text()
	p.step, p.csrf, p.who, p.until = stepSignedIn, sha256.Sum256([]byte(csrf)), who, until
	p.confirmBy = now.Add(loginConfirmTTL).UTC()
	if p.confirmBy.After(p.expires) {
		p.confirmBy = p.expires
	}
	if err := l.advance(ctx, p, stepOpened, now, errStepUsed); err != nil {
		return nil, signedIn{}, err
	}
	return p, signedIn{csrf: csrf, confirmBy: p.confirmBy}, nil
}

// decide takes the person's decision on login id once: the form's token
// must be in both the cookie and the field. A wrong token changes nothing.
// It returns the identity the IdP established; errConfirmLate (with p) when
// the decision came too late, which ends the login.
func (l *pendingLogins) decide(ctx context.Context, id, cookie, field string, now time.Time) (*pendingLogin, store.Identity, time.Time, error) {
	p, err := l.get(ctx, id, now)
	switch {
	case err != nil:
		return nil, store.Identity{}, time.Time{}, err
	case p.step == stepDecided:
		return nil, store.Identity{}, time.Time{}, errStepUsed
	case p.step != stepSignedIn:
		return nil, store.Identity{}, time.Time{}, errNotSignedIn
	case !tokenEqual(cookie, p.csrf) || !tokenEqual(field, p.csrf):
		return nil, store.Identity{}, time.Time{}, errBadCSRF
	}
	p.step = stepDecided
	if err := l.advance(ctx, p, stepSignedIn, now, errStepUsed); err != nil {
		return nil, store.Identity{}, time.Time{}, err
	}
	if now.After(p.confirmBy) {
		return p, store.Identity{}, time.Time{}, errConfirmLate
	}
	return p, p.who, p.until, nil
}

// finish records the result once and ends the login; later calls are
// ignored. The nodes waiting here are woken at once; those waiting on
// other coordinators through the change log (store.ChangeLogin).
func (l *pendingLogins) finish(ctx context.Context, p *pendingLogin, res wire.LoginResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode login result: %w", err)
	}
	if _, err := l.st.FinishPendingLogin(ctx, p.key, int(stepDecided), b); err != nil {
		return err
	}
	l.wake()
	return nil
}

// wait returns login id's result once it ended, or nil after d; the
// login must be machine's. It reads the login again whenever a login
// ended here or on another coordinator.
func (l *pendingLogins) wait(ctx context.Context, id string, machine wire.MachinePublic, d time.Duration) (*wire.LoginResult, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		ended := l.endedChan()
		p, err := l.get(ctx, id, l.now())
		if errors.Is(err, errLinkUnknown) || (err == nil && p.machine != machine) {
			return nil, fmt.Errorf("%w: %v", store.ErrNotFound, errLoginUnknown)
		}
		if err != nil {
			return nil, err
		}
		if p.result != nil {
			return p.result, nil
		}
		select {
		case <-ended:
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
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
