package browsertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wardnet/ward/devidp/devidptest"
)

// ShotDir is where a test's screenshots go: $WARD_SCREENSHOT_DIR when set,
// else a directory of the test's own that is removed when it ends. It
// logs the choice.
func ShotDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("WARD_SCREENSHOT_DIR"); d != "" {
		dir = d
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// Do runs steps in the tab; what names them in the failure.
func (p *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// pollTimeout bounds a Poll: generous, for a loaded machine.
const pollTimeout = 60 * time.Second

// Poll waits until the JavaScript expression js is truthy; what names the
// wait in the failure.
func (p *Tab) Poll(what, js string) {
	p.t.Helper()
	p.Do("waiting for "+what, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(pollTimeout)))
}

// Text returns the visible text of the first element matching the CSS
// selector sel, waiting (up to pollTimeout) until one is shown. The
// element is found and read in one evaluation: the UI re-renders parts
// of the page as data arrives, and an element found by one DevTools call
// could be gone by the next ("No node with given id found": a CI failure
// reading the header's role while the page rendered).
func (p *Tab) Text(sel string) string {
	p.t.Helper()
	q, err := json.Marshal(sel)
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	js := `(() => { const e = document.querySelector(` + string(q) + `);
		return e && e.checkVisibility() ? {found: true, text: e.innerText} : {found: false, text: ""}; })()`
	type shown struct {
		Found bool   `json:"found"`
		Text  string `json:"text"`
	}
	deadline := time.Now().Add(pollTimeout)
	for {
		v, err := chromedp.Run(p.ctx, chromedp.Evaluate[shown](js))
		if err != nil {
			p.t.Fatalf("text of %s: %v", sel, err)
		}
		if v.Found {
			return v.Text
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("text of %s: no such element shown after %v", sel, pollTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eval evaluates the JavaScript expression js in p's page and returns its
// value as a T.
func Eval[T any](p *Tab, js string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		p.t.Fatalf("evaluate: %v", err)
	}
	return v
}

// Shot writes a full-page PNG screenshot to name.png in the tab's
// screenshot directory.
func (p *Tab) Shot(name string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.shots, name+".png"), buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// Login opens url, a page of the admin UI, which sends the browser to the
// development OIDC provider; fills in its login form with c (and the
// one-time code step when c has an OTP); and waits to be back on the UI,
// logged in.
func (p *Tab) Login(url string, c devidptest.Credentials) {
	p.t.Helper()
	p.Do("log "+c.Username+" in",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), c.Username),
		chromedp.SendKeys(chromedp.CSS("#password"), c.Password),
		chromedp.Submit(chromedp.CSS("#login")),
	)
	if c.OTP != "" {
		p.Do("answer "+c.Username+"'s one-time code step",
			chromedp.WaitVisible(chromedp.CSS("input#otp")),
			chromedp.SendKeys(chromedp.CSS("input#otp"), c.OTP),
			chromedp.Submit(chromedp.CSS("form#otp")),
		)
	}
	p.Do("wait for "+c.Username+"'s login to finish", chromedp.WaitVisible(chromedp.CSS("#who")))
}

// Fetch sends a request to the admin API from the page, as its own script
// does: with the session cookie, the CSRF token of the page's csrf-token
// meta tag in X-CSRF-Token, and body (nil for none) as JSON. It returns
// the answer's HTTP status and body.
func (p *Tab) Fetch(method, path string, body any) (int, string) {
	p.t.Helper()
	b := []byte("null")
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			p.t.Fatalf("fetch %s %s: %v", method, path, err)
		}
	}
	args, err := json.Marshal([]string{method, path, string(b)})
	if err != nil {
		p.t.Fatal(err)
	}
	js := `((method, path, body) => fetch(path, {method, headers: {'Content-Type': 'application/json',
	  'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content},
	  body: body === 'null' ? undefined : body}).then(async r => ({status: r.status, body: await r.text()})))(...` + string(args) + `)`
	res := Eval[fetched](p, js, chromedp.EvalAwaitPromise)
	return res.Status, res.Body
}

// fetched is what Fetch's script resolves to.
type fetched struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}
