package dashboard

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardnet/ward/web/browsertest"
)

// TestBrowserPageKeepsItselfCurrent: in a real Chromium the open status
// page shows a device the person was just granted and a request's
// decision without a reload, keeps what the person is typing in the
// request form, says so when the daemon stops answering, and breaks no
// rule of its Content-Security-Policy.
func TestBrowserPageKeepsItselfCurrent(t *testing.T) {
	browsertest.NeedChromium(t)
	var mu sync.Mutex // mu guards page
	page := Page{State: "logged-in", User: "alice@example.com", Node: "laptop", Mode: "proxy", KeyExpiry: time.Now().Add(time.Hour),
		Devices:  []Device{{Name: "cam1", Addr: "100.64.0.1", Owner: "tag:camera", Online: true, Ports: []uint16{22}}},
		Peers:    []string{"cam1", "cam2"},
		Requests: []Request{{ID: 7, Device: "cam2", Port: 22, Proto: "tcp", Duration: time.Hour, Reason: "INC-1", State: "pending"}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Page: func() Page {
			mu.Lock()
			defer mu.Unlock()
			return page
		},
		Logout:  func(context.Context) error { return nil },
		Request: func(context.Context, NewRequest) error { return nil },
	}, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(ln)
	defer srv.Close()

	tab := browsertest.Start(t, browsertest.ShotDir(t))
	tab.Do("open the page", chromedp.Navigate(s.URL()), chromedp.WaitVisible(chromedp.CSS("#devices")))
	tab.Do("type a reason", chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "INC-42 half typed"))

	mu.Lock()
	page.Devices = append(page.Devices, Device{Name: "cam2", Addr: "100.64.0.2", Owner: "tag:camera", Online: true, Ports: []uint16{22}})
	page.Requests[0].State, page.Requests[0].DecidedBy, page.Requests[0].Expires = "approved", "bob@example.com", time.Now().Add(time.Hour)
	mu.Unlock()
	tab.Poll("cam2 and the decision on the open page", `document.getElementById('devices').textContent.includes('100.64.0.2') &&
		document.getElementById('request-7').textContent.includes('bob@example.com')`)
	if got := browsertest.Eval[string](tab, `document.querySelector('input[name="reason"]').value`); got != "INC-42 half typed" {
		t.Errorf("the form lost what was typed: %q", got)
	}
	if n := browsertest.Eval[int](tab, `document.querySelectorAll('#devices button.copy').length`); n < 2 {
		t.Errorf("%d copy buttons after the swap; want one per command of both devices", n)
	}
	tab.Shot("status-live")

	srv.Close()
	tab.Poll("the note that the daemon does not answer", `!document.getElementById('stale').hidden`)
	tab.Shot("status-stale")
	var errs []string
	for _, e := range tab.ConsoleErrors() {
		// The failed fetches after the server stopped are expected.
		if !containsAny(e, "Failed to fetch", "ERR_CONNECTION_REFUSED") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("browser console errors (CSP violations included): %v", errs)
	}
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}
