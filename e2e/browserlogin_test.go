package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/web/browsertest"
	"github.com/wardnet/ward/wire"
)

// TestBrowserConfirmsDeviceLogin runs a person's device login in headless
// Chromium with the IdP on another site than the coordinator (127.0.0.1
// and localhost), as in production: the link's cookie comes back with the
// IdP's redirect, the confirmation page shows the code `ward up` printed
// and the device's name, its policy lets its form post, and the click
// carries the SameSite=Strict CSRF cookie, so the device connects.
func TestBrowserConfirmsDeviceLogin(t *testing.T) {
	browsertest.NeedChromium(t)
	f := newFleet(t, fleetPolicy(1), func(c *assembly.Config) {
		_, port, _ := net.SplitHostPort(c.Listen)
		base := "http://localhost:" + port
		idp := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: "ward", Secret: "s3cret",
			RedirectURIs: []string{base + wire.PathOIDCCallback, base + "/ui/callback"}}}})
		c.PublicURL = base
		c.OIDC = &sso.Config{Issuer: idp.Issuer(), ClientID: "ward", ClientSecret: "s3cret", RedirectURL: base + wire.PathOIDCCallback}
	})
	kiosk := f.startLaptop(t, "kiosk-3")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start, err := kiosk.api.Login(ctx, localapi.LoginRequest{Force: true})
	if err != nil || !strings.HasPrefix(start.URL, "http://localhost:") || start.Code == "" {
		t.Fatalf("start login: %+v %v", start, err)
	}

	tab := browsertest.Start(t, browsertest.ShotDir(t))
	tab.Do("sign in at the IdP through the link",
		chromedp.Navigate(start.URL),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "bob"),
		chromedp.SendKeys(chromedp.CSS("#password"), "bob"),
		chromedp.Submit(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#connect")),
	)
	if code, host, user := tab.Text("#code"), tab.Text("#hostname"), tab.Text("#user"); code != start.Code || host != "kiosk-3" || user != "bob@example.com" {
		t.Errorf("confirmation page shows code %q for %q as %q; want %q for kiosk-3 as bob@example.com", code, host, user, start.Code)
	}
	tab.Shot("e2e-device-login-confirm")
	tab.Do("connect this device", chromedp.Click(chromedp.CSS("#connect")), chromedp.WaitVisible(chromedp.CSS("#message")))
	if msg := tab.Text("#message"); !strings.Contains(msg, "logged in as bob@example.com on kiosk-3") {
		t.Fatalf("after the click: %q", msg)
	}
	res, err := kiosk.api.WaitLogin(ctx, start.ID)
	if err != nil || res.Error != "" || res.User != "bob@example.com" {
		t.Fatalf("the device was told %+v %v", res, err)
	}
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors (CSP violations included):\n%s", strings.Join(errs, "\n"))
	}
}
