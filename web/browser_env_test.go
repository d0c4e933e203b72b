package web_test

import (
	"context"
	"crypto/rand"
	"errors"
	"iter"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// chromiumPath is Debian's chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// ssoLogin adapts the coordinator's OIDC relying party to web.Login, as the
// coordinator does.
type ssoLogin struct{ rp *sso.RP }

func (l ssoLogin) AuthURL(ctx context.Context, payload string) (string, error) {
	lg, err := l.rp.Begin(ctx, payload)
	return lg.URL, err
}

func (l ssoLogin) Complete(r *http.Request) (string, []string, time.Time, string, error) {
	res, err := l.rp.FinishRequest(r)
	if err != nil {
		return "", nil, time.Time{}, res.Payload, err
	}
	id := res.Identity
	return id.Email, id.Groups, id.Expiry, res.Payload, nil
}

// browserEnv is the admin handler on the fake backend, logging people in
// through the real development OIDC provider (devidp) and relying party
// (sso), served on loopback for a real browser.
type browserEnv struct {
	base  string
	b     *webtest.Backend
	shots string
}

// devUsers are the IdP's accounts; the password is the username.
var devUsers = []devidp.User{
	{Username: "admin", Password: "admin", Email: "admin@example.com", Groups: []string{"ward-admins"}},
	{Username: "auditor", Password: "auditor", Email: "auditor@example.com", Groups: []string{"ward-audit"}},
	{Username: "member", Password: "member", Email: "member@example.com", Groups: []string{"ops"}},
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Debian's chromium at %s (make test installs it): %v", chromiumPath, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	secret := rand.Text()
	idp, err := devidp.New(devidp.Config{Issuer: base + devidp.DefaultPrefix, ListenAddr: ln.Addr().String(), Users: devUsers,
		Clients: []devidp.Client{{ID: "ward-admin", Secret: secret, RedirectURIs: []string{base + "/ui/callback"}}}})
	if err != nil {
		t.Fatalf("devidp: %v", err)
	}
	rp, err := sso.New(sso.Config{Issuer: base + devidp.DefaultPrefix, ClientID: "ward-admin", ClientSecret: sso.Secret(secret),
		RedirectURL: base + "/ui/callback"})
	if err != nil {
		t.Fatalf("sso: %v", err)
	}
	b := webtest.NewBackend(nil)
	h, err := web.New(web.Config{Roles: testRoles}, b, ssoLogin{rp})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(idp.Prefix()+"/", idp)
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	shots := t.TempDir()
	if d := os.Getenv("WARD_SCREENSHOT_DIR"); d != "" {
		shots = d
	}
	t.Logf("screenshots in %s", shots)
	return &browserEnv{base: base, b: b, shots: shots}
}

// browser starts a fresh headless Chromium (own user-data-dir, so no
// cookies) and returns its context and a log of its console errors.
func (e *browserEnv) browser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	cl := &consoleLog{done: make(chan struct{})}
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc(); <-cl.done })
	if err := chromedp.Do(ctx); err != nil {
		close(cl.done)
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go cl.collect(msgs)
	return ctx, cl
}

// consoleLog collects the browser's console errors, exceptions and CSP
// violations.
type consoleLog struct {
	done chan struct{} // closed when collect returns

	mu   sync.Mutex // mu guards msgs
	msgs []string
}

func (c *consoleLog) collect(msgs iter.Seq2[chromedp.ConsoleMessage, error]) {
	defer close(c.done)
	for m, err := range msgs {
		if err != nil {
			return
		}
		if m.Type == chromedp.ConsoleError || m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			c.mu.Lock()
			c.msgs = append(c.msgs, m.String()+" ("+m.URL+":"+strconv.FormatInt(m.Line+1, 10)+")")
			c.mu.Unlock()
		}
	}
}

// errors returns the messages that are not refusals the test provokes on
// purpose (a 400, 403 or 409 answer logs a failed resource load).
func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if strings.Contains(m, "status of 403") || strings.Contains(m, "status of 409") || strings.Contains(m, "status of 400") {
			continue
		}
		out = append(out, m)
	}
	return out
}

// login signs a devidp user in, starting from path.
func (e *browserEnv) login(ctx context.Context, user, path string) error {
	return chromedp.Do(ctx,
		chromedp.Navigate(e.base+path),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), user),
		chromedp.Submit(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
}

// shot writes a full-page PNG screenshot to name.png.
func (e *browserEnv) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(e.shots, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *browserEnv) policyVersion(t *testing.T) wire.PolicyVersion {
	t.Helper()
	v, err := e.b.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func itoa(n int) string { return strconv.Itoa(n) }
