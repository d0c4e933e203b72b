package devidptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
)

// maxPage bounds how much of a page the browser reads.
const maxPage = 1 << 20

// ErrNoForm means a page that should have held the login form did not.
var ErrNoForm = errors.New("no login form on the page")

// Credentials are what the person types into the login form.
type Credentials struct {
	// Username and Password answer the first step.
	Username string
	Password string
	// OTP answers the one-time code step; leave empty for users without
	// MFA.
	OTP string
}

// FormError is returned by Login when the provider shows its form again
// with an error, or an error page.
type FormError struct {
	// Page is the page that shows the error.
	Page *Page
}

// Error returns the message the page shows.
func (e *FormError) Error() string {
	return fmt.Sprintf("login form says: %s (step %s, status %d)", e.Page.Error, e.Page.Step, e.Page.Status)
}

// Browser is an HTTP client with a cookie jar that fills in the provider's
// login form. It is not safe for concurrent use.
type Browser struct {
	// Client follows redirects and keeps cookies.
	Client *http.Client
}

// NewBrowser returns a Browser with an empty cookie jar.
func NewBrowser() *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err) // cookiejar.New never fails with nil options
	}
	return &Browser{Client: &http.Client{Jar: jar}}
}

// Page is a page the browser ended on.
type Page struct {
	// URL is where the page came from, after redirects.
	URL *url.URL
	// Status is the HTTP status code.
	Status int
	// Body is the page's content, up to 1 MiB.
	Body string
	// Step is "password", "otp" or "error" when the page is the provider's
	// login page, and empty for any other page.
	Step string
	// Error is the error the login page shows; empty if none.
	Error string

	form *form
	// forms are the page's forms, of any HTML page.
	forms []*form
}

// form is a form on a page.
type form struct {
	action string
	fields url.Values
}

// Login opens authURL, signs in with c (answering the one-time code step
// when the provider asks for it), and follows the redirects to wherever the
// provider sends the browser, normally the client's redirect URI. It returns
// that last page, or a *FormError when the provider shows an error.
func (b *Browser) Login(ctx context.Context, authURL string, c Credentials) (*Page, error) {
	p, err := b.Open(ctx, authURL)
	if err != nil {
		return nil, err
	}
	if p.Step != "password" {
		return p, &FormError{Page: p}
	}
	p, err = b.Submit(ctx, p, url.Values{"username": {c.Username}, "password": {c.Password}})
	if err != nil || p.Step != "otp" || p.Error != "" {
		return p, b.check(p, err)
	}
	if c.OTP == "" {
		return p, errors.New("the provider asks for a one-time code and none was given")
	}
	p, err = b.Submit(ctx, p, url.Values{"otp": {c.OTP}})
	return p, b.check(p, err)
}

// check turns a login page that shows an error into a *FormError.
func (b *Browser) check(p *Page, err error) error {
	if err != nil {
		return err
	}
	if p.Step == "error" || p.Error != "" {
		return &FormError{Page: p}
	}
	return nil
}

// Open GETs u, following redirects.
func (b *Browser) Open(ctx context.Context, u string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", u, err)
	}
	return b.do(req)
}

// Submit posts the form of the login page p with its hidden fields and
// the given values, following redirects.
func (b *Browser) Submit(ctx context.Context, p *Page, values url.Values) (*Page, error) {
	if p.form == nil {
		return nil, ErrNoForm
	}
	return b.post(ctx, p, p.form, values)
}

// SubmitForm posts the form of any HTML page p whose action is action (as
// written in the page), with its hidden fields and the given values, the
// way a person's click on one of its buttons would (give the button's name
// and value in values), following redirects. It fails with ErrNoForm when
// p has no such form.
func (b *Browser) SubmitForm(ctx context.Context, p *Page, action string, values url.Values) (*Page, error) {
	for _, f := range p.forms {
		if f.action == action {
			return b.post(ctx, p, f, values)
		}
	}
	return nil, fmt.Errorf("%w: action %s", ErrNoForm, action)
}

// Forms returns the actions of p's forms, in page order.
func (p *Page) Forms() []string {
	var out []string
	for _, f := range p.forms {
		out = append(out, f.action)
	}
	return out
}

// Field returns the value of the hidden field name of p's form with
// action action; "" when there is none.
func (p *Page) Field(action, name string) string {
	for _, f := range p.forms {
		if f.action == action {
			return f.fields.Get(name)
		}
	}
	return ""
}

func (b *Browser) post(ctx context.Context, p *Page, f *form, values url.Values) (*Page, error) {
	action, err := p.URL.Parse(f.action)
	if err != nil {
		return nil, fmt.Errorf("parse form action: %w", err)
	}
	fields := url.Values{}
	for k, v := range f.fields {
		fields[k] = v
	}
	for k, v := range values {
		fields[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(fields.Encode()))
	if err != nil {
		return nil, fmt.Errorf("submit form: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *Browser) do(req *http.Request) (*Page, error) {
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", resp.Request.URL.Redacted(), err)
	}
	p := &Page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		parsePage(p)
	}
	return p, nil
}
