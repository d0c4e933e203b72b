package browsertest

import (
	"context"
	"iter"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardnet/ward/internal/needtool"
)

// ChromiumPath is Debian's chromium, which `make test` installs.
const ChromiumPath = "/usr/bin/chromium"

// runTimeout bounds everything a Tab does, so a wedged browser fails the
// test instead of hanging it.
const runTimeout = 120 * time.Second

// Tab is one page of a headless Chromium, driven by the test's goroutine.
// Its methods fail the test on error.
type Tab struct {
	t     testing.TB
	ctx   context.Context
	shots string // shots is where Shot writes; never empty
	// console collects the page's console errors; never nil.
	console *consoleLog
}

// NeedChromium skips the test, saying why, when Chromium is missing; under
// CI (the environment variable CI set to true, as .ci/run does) it fails
// the test instead, so that a CI run whose Chromium install failed cannot
// pass without its browser tests. A test calls it before setting up what
// only the browser would use.
func NeedChromium(t testing.TB) {
	t.Helper()
	needtool.Executable(t, ChromiumPath, os.Getenv("CI"), "browser tests need Debian's chromium")
}

// Start skips the test when Chromium is missing, else starts a fresh
// headless Chromium (its own user-data-dir, so no cookies; no sandbox, no
// GPU, no background networking) and returns its first tab, which writes
// screenshots to shots. The browser is stopped when the test ends.
func Start(t testing.TB, shots string) *Tab {
	t.Helper()
	NeedChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(ChromiumPath), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	return open(t, ctx, shots, func() { cancelCtx(); cancelAlloc() })
}

// Fresh opens a tab in a new browser context of p's browser: it shares no
// cookies or storage with any other tab, as a second person's browser
// would not. It is closed when the test ends, before p's browser stops.
func (p *Tab) Fresh() *Tab {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithNewBrowserContext())
	return open(p.t, ctx, p.shots, cancel)
}

// open starts ctx's tab and the collection of its console messages; stop
// releases ctx and its parents.
func open(t testing.TB, ctx context.Context, shots string, stop func()) *Tab {
	t.Helper()
	ctx, cancelTimeout := context.WithTimeout(ctx, runTimeout)
	cl := &consoleLog{done: make(chan struct{})}
	t.Cleanup(func() { cancelTimeout(); stop(); <-cl.done })
	if err := chromedp.Do(ctx); err != nil {
		close(cl.done)
		t.Fatalf("start chromium: %v", err)
	}
	go cl.collect(chromedp.Console(ctx))
	return &Tab{t: t, ctx: ctx, shots: shots, console: cl}
}

// Context is the tab's chromedp context, for actions the helpers lack.
func (p *Tab) Context() context.Context { return p.ctx }

// consoleLog collects a page's console errors, exceptions and CSP
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

// ConsoleErrors returns the page's console errors, exceptions and CSP
// violations so far, except the failed loads that refusals a test provokes
// on purpose log (an answer of 400, 403 or 409).
func (p *Tab) ConsoleErrors() []string {
	c := p.console
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
