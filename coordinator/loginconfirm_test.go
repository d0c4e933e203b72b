package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// bob is a demo user of the built-in dev IdP without a second factor.
var bob = devidptest.Credentials{Username: "bob", Password: "bob"}

// phish has an attacker's machine start a login and a victim's browser
// sign in at the coordinator's dev IdP through the link. It returns the
// login and the victim's browser on the confirmation page.
func (c *testCoord) phish(attacker *machine) (wire.LoginResponse, *devidptest.Browser, *devidptest.Page) {
	c.t.Helper()
	lr := c.startLogin(attacker, "build-box-7", "linux/amd64")
	victim := devidptest.NewBrowser()
	page, err := victim.Login(context.Background(), lr.URL, bob)
	if err != nil || page.Status != http.StatusOK {
		c.t.Fatalf("victim's sign-in: %v %+v", err, page)
	}
	return lr, victim, page
}

// waitLogin long-polls the login's outcome as the waiting node does.
func (c *testCoord) waitLogin(m *machine, id string) <-chan wire.LoginResult {
	out := make(chan wire.LoginResult, 1)
	go func() {
		defer close(out)
		req, _ := http.NewRequest("GET", c.http.URL+wire.PathLoginWait+"?id="+id, nil)
		req.Header.Set("Authorization", "Bearer "+m.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var res wire.LoginResult
		if json.NewDecoder(resp.Body).Decode(&res) == nil {
			out <- res
		}
	}()
	return out
}

// registered tells whether m's machine key is a node.
func (c *testCoord) registered(m *machine) bool {
	c.t.Helper()
	_, err := c.srv.st.NodeByMachineKey(context.Background(), store.MachinePublic(m.priv.Public()))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.t.Fatal(err)
	}
	return err == nil
}

// postConfirm posts the confirmation form with client, as a forger would.
func postConfirm(t *testing.T, client *http.Client, base string, form url.Values) (int, string) {
	t.Helper()
	resp, err := client.PostForm(base+wire.PathLoginConfirm, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLoginLinkFromAnotherMachineNeedsConfirmation pins the login-link
// phishing fix: a link made by an attacker's machine and completed at the
// IdP by a victim's browser registers nothing until the victim clicks
// "Connect this device" on a page that shows the attacker's machine; the
// click needs the browser's CSRF token; every step works once; "This
// wasn't me" tells the waiting node.
func TestLoginLinkFromAnotherMachineNeedsConfirmation(t *testing.T) {
	c := startCoord(t, userPolicy) // with the built-in dev IdP
	ctx := context.Background()

	t.Run("connect needs the click", func(t *testing.T) {
		attacker := newMachine(t)
		lr, victim, page := c.phish(attacker)
		if !regexp.MustCompile(`^[B-Z]{4}-[B-Z]{4}$`).MatchString(lr.Code) {
			t.Errorf("login code %q, want XXXX-XXXX", lr.Code)
		}
		for _, fact := range []string{"build-box-7", "linux/amd64", "127.0.0.1", lr.Code, "bob@example.com", "Connect this device", "This wasn't me"} {
			if !strings.Contains(page.Body, fact) {
				t.Errorf("confirmation page lacks %q:\n%s", fact, page.Body)
			}
		}
		if c.registered(attacker) {
			t.Fatal("the attacker's machine is a node before the victim confirmed")
		}
		waiting := c.waitLogin(attacker, lr.ID)

		// A forged confirmation: the right fields but not the browser's
		// cookie (another site's form, the attacker's own client).
		form := url.Values{"login": {lr.ID}, "csrf": {page.Field(wire.PathLoginConfirm, "csrf")}, "decision": {"connect"}}
		if form.Get("csrf") == "" {
			t.Fatalf("no CSRF token in the form: %v", page.Forms())
		}
		if code, body := postConfirm(t, http.DefaultClient, c.http.URL, form); code != http.StatusForbidden {
			t.Errorf("confirmation without the cookie: %d %s, want 403", code, body)
		}
		// The victim's cookie with a wrong form token.
		bad := url.Values{"login": {lr.ID}, "csrf": {"not-the-token"}, "decision": {"connect"}}
		if code, _ := postConfirm(t, victim.Client, c.http.URL, bad); code != http.StatusForbidden {
			t.Errorf("confirmation with a wrong token: %d, want 403", code)
		}
		// The link and the callback work once.
		if again, err := victim.Open(ctx, lr.URL); err != nil || again.Status != http.StatusConflict || !strings.Contains(again.Body, "already used") {
			t.Errorf("second visit of the link: %v %+v", err, again)
		}
		if replay, err := devidptest.NewBrowser().Open(ctx, page.URL.String()); err != nil || replay.Status != http.StatusForbidden {
			t.Errorf("replayed callback: %v %+v", err, replay)
		}
		if c.registered(attacker) {
			t.Fatal("the attacker's machine became a node without the victim's click")
		}
		select {
		case res := <-waiting:
			t.Fatalf("the node was told %+v before the click", res)
		default:
		}

		done, err := victim.SubmitForm(ctx, page, wire.PathLoginConfirm, url.Values{"decision": {"connect"}})
		if err != nil || done.Status != http.StatusOK || !strings.Contains(done.Body, "logged in as bob@example.com") {
			t.Fatalf("connect: %v %+v", err, done)
		}
		if res := <-waiting; !res.Done || res.Node == nil || res.Node.User != "bob@example.com" || res.Node.Name != "build-box-7" {
			t.Fatalf("the node was told %+v", res)
		}
		if again, err := victim.SubmitForm(ctx, page, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); err != nil || again.Status != http.StatusConflict {
			t.Errorf("second confirmation: %v %+v", err, again)
		}
		c.wantAudit("user.login_confirmed", "user:bob@example.com")
	})

	t.Run("this wasn't me", func(t *testing.T) {
		attacker := newMachine(t)
		lr, victim, page := c.phish(attacker)
		waiting := c.waitLogin(attacker, lr.ID)
		done, err := victim.SubmitForm(ctx, page, wire.PathLoginConfirm, url.Values{"decision": {"cancel"}})
		if err != nil || done.Status != http.StatusOK || !strings.Contains(done.Body, "not connected") {
			t.Fatalf("cancel: %v %+v", err, done)
		}
		if res := <-waiting; !res.Done || res.Node != nil || !strings.Contains(res.Error, "refused") {
			t.Fatalf("the node was told %+v, want the refusal", res)
		}
		if c.registered(attacker) {
			t.Fatal("a cancelled login registered the machine")
		}
		if again, _ := victim.SubmitForm(ctx, page, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); again.Status != http.StatusConflict || c.registered(attacker) {
			t.Errorf("connect after cancel: %d", again.Status)
		}
		c.wantAudit("user.login_refused", "user:bob@example.com")
	})

	t.Run("IdP page forwarded from the attacker's browser", func(t *testing.T) {
		// The attacker opens his own link and sends the victim the IdP
		// page it redirects to, hoping to skip the link.
		attacker := newMachine(t)
		lr := c.startLogin(attacker, "build-box-7", "linux/amd64")
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(lr.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		idpPage := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || idpPage == "" {
			t.Fatalf("attacker's link: %d %q", resp.StatusCode, idpPage)
		}
		p, err := devidptest.NewBrowser().Login(ctx, idpPage, bob)
		if err != nil || p.Status != http.StatusForbidden || !strings.Contains(p.Body, "not opened in this browser") || c.registered(attacker) {
			t.Fatalf("victim's sign-in through a forwarded IdP page: %v %+v", err, p)
		}
		if p.Field(wire.PathLoginConfirm, "csrf") != "" {
			t.Fatal("the victim got a confirmation form for a login opened elsewhere")
		}
	})
}

// wantAudit fails unless the audit log holds an event action by actor.
func (c *testCoord) wantAudit(action, actor string) {
	c.t.Helper()
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action="+action, nil, &evs)
	for _, e := range evs {
		if e.Action == action && e.Actor == actor {
			return
		}
	}
	c.t.Errorf("no audit event %s by %s in %+v", action, actor, evs)
}

// TestLoginLinkIsShortLived pins the login's deadlines: a link opens only
// within its first minutes, and a confirmation comes only within minutes of
// the sign-in; a late one tells the node.
func TestLoginLinkIsShortLived(t *testing.T) {
	c := startCoord(t, userPolicy)
	ctx := context.Background()
	var skew time.Duration
	c.srv.logins.pending.mu.Lock()
	c.srv.logins.pending.clock = func() time.Time { return time.Now().Add(skew) }
	c.srv.logins.pending.mu.Unlock()
	setSkew := func(d time.Duration) {
		c.srv.logins.pending.mu.Lock()
		defer c.srv.logins.pending.mu.Unlock()
		skew = d
	}

	late := newMachine(t)
	lr := c.startLogin(late, "late-box", "linux")
	setSkew(loginOpenTTL + time.Second)
	if p, err := devidptest.NewBrowser().Open(ctx, lr.URL); err != nil || p.Status != http.StatusNotFound || !strings.Contains(p.Body, "expired") {
		t.Errorf("link opened after %v: %v %+v", loginOpenTTL, err, p)
	}

	setSkew(0)
	slow := newMachine(t)
	lr, victim, page := c.phish(slow)
	waiting := c.waitLogin(slow, lr.ID)
	setSkew(loginConfirmTTL + time.Second)
	p, err := victim.SubmitForm(ctx, page, wire.PathLoginConfirm, url.Values{"decision": {"connect"}})
	if err != nil || p.Status != http.StatusNotFound || !strings.Contains(p.Body, "expired") {
		t.Errorf("confirmation after %v: %v %+v", loginConfirmTTL, err, p)
	}
	if res := <-waiting; !res.Done || res.Node != nil || res.Error == "" {
		t.Errorf("the node was told %+v, want the lapse", res)
	}
	if c.registered(slow) {
		t.Error("a late confirmation registered the machine")
	}
}
