package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/web/browsertest"
	"github.com/wardnet/ward/wire"
)

// uiPolicy grants tag:operator one TCP port on cameras (on a line of its
// own, so a test can break it or drop it) and the IdP group admins
// another.
func uiPolicy(port, other uint16) string {
	return fmt.Sprintf(`{
  "groups": {"group:admins": [], "group:ops": []}, // members come from the IdP
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [
    {"action": "accept", "src": ["group:admins"], "dst": ["tag:camera:%d"], "proto": "tcp"},
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:%d"], "proto": "tcp"},
  ],
}
`, other, port)
}

// operatorRule is the line of uiPolicy(port, _) holding the operator's
// grant.
func operatorRule(port uint16) string {
	return fmt.Sprintf(`    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:%d"], "proto": "tcp"},`+"\n", port)
}

// lineOf returns the 1-based line of text holding substr.
func lineOf(text, substr string) int {
	i := strings.Index(text, substr)
	if i < 0 {
		panic("lineOf: " + substr + " not in text")
	}
	return strings.Count(text[:i], "\n") + 1
}

// TestBrowserPolicyEditCutsLiveFlow runs the admin UI of a real coordinator
// in headless Chromium: an owner logs in through the dev OIDC provider's
// form, types a policy with an error and sees it marked at its line, fixes
// it by dropping the operator's grant, sees the impact preview name exactly
// that grant, and saves; the operator's next connection to the camera is
// refused. Then an auditor, in a browser context of their own, reads the
// policy without a save control, and the API refuses a save from their
// session.
func TestBrowserPolicyEditCutsLiveFlow(t *testing.T) {
	browsertest.NeedChromium(t)
	port, other := echoServer(t), echoServer(t)
	policy := uiPolicy(port, other)
	f := newFleet(t, policy, func(c *assembly.Config) {
		c.AdminRoles = map[string]admin.Role{"idp:admins": admin.RoleOwner, "idp:ops": admin.RoleAuditor} // carol owner, alice auditor
	})
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{port, other}})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "operator's first echo through the camera", func() bool { return op.roundTrip("cam1", port) == nil })

	shots := browsertest.ShotDir(t)
	carol := browsertest.Start(t, shots)
	fixed := ownerFixesPolicy(t, f, carol, policy, port)
	ownerSavesAndCutsOperator(t, f, carol, op, fixed, port)
	if errs := carol.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("owner's browser console errors (CSP violations included):\n%s", strings.Join(errs, "\n"))
	}
	auditorCannotSave(t, f, carol.Fresh(), policy, op, port)
}

// ownerFixesPolicy logs carol in, types a policy with an unknown tag in the
// operator's grant, checks the error is marked at its line, then types the
// policy without that grant and checks the impact preview. It returns the
// fixed text, previewed and ready to save.
func ownerFixesPolicy(t *testing.T, f *fleet, tab *browsertest.Tab, policy string, port uint16) string {
	t.Helper()
	tab.Login(f.url()+"/ui/", devidptest.Credentials{Username: "carol", Password: "carol"})
	tab.Do("devices page", chromedp.WaitVisible(chromedp.CSS("#devices")))
	if who, role := tab.Text("#who"), tab.Text("#role"); who != "carol@example.com" || role != "owner" {
		t.Errorf("logged in as %q (%s), want carol@example.com (owner)", who, role)
	}
	tab.Shot("e2e-1-owner-devices")
	tab.Do("open the policy editor", chromedp.Click(chromedp.CSS(`nav a[href="/ui/policy"]`)), chromedp.WaitVisible(chromedp.CSS(".cm-content")))
	tab.Poll("the editor to check the running policy", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	tab.Shot("e2e-2-owner-policy")

	broken := strings.Replace(policy, fmt.Sprintf(`"tag:camera:%d"`, port), fmt.Sprintf(`"tag:kamera:%d"`, port), 1)
	want := lineOf(broken, "tag:kamera")
	tab.TypePolicy(broken)
	tab.WaitErrorMarked()
	if got := tab.ListedLine(); got != fmt.Sprint(want) {
		t.Errorf("problem listed at line %s, want %d (%s)", got, want, tab.Text("#problems"))
	}
	if got := tab.MarkedLine(); got != want {
		t.Errorf("editor marks line %d, want %d", got, want)
	}
	if p := tab.Text("#problems"); !strings.Contains(p, "tag:kamera") {
		t.Errorf("the problem does not name the unknown tag: %q", p)
	}
	t.Logf("the error is marked at line %d: %s", want, tab.Text("#problems"))
	tab.Shot("e2e-3-owner-policy-error")

	fixed := strings.Replace(policy, operatorRule(port), "", 1)
	if fixed == policy {
		t.Fatal("the operator's rule is not a line of the policy")
	}
	tab.TypePolicy(fixed)
	tab.Poll("the fixed policy to check", `document.getElementById('check-status').textContent.startsWith('Valid') && !document.querySelector('.cm-lintRange-error')`)
	tab.Do("preview", chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#impact-removed")))
	removed := browsertest.Eval[[]string](tab, `[...document.querySelectorAll('#impact-removed li')].map(li => li.textContent)`)
	added := browsertest.Eval[[]string](tab, `[...document.querySelectorAll('#impact-added li')].map(li => li.textContent)`)
	if want := fmt.Sprintf("tag:operator → cam1 tcp:%d", port); len(removed) != 1 || removed[0] != want || len(added) != 0 {
		t.Errorf("impact preview: removed %q, added %q; want removed exactly [%q]", removed, added, want)
	}
	tab.Shot("e2e-4-owner-impact")
	return fixed
}

// ownerSavesAndCutsOperator saves the previewed policy with a comment and
// measures the time from the save to the operator's first refused
// connection attempt, while the operator keeps making fresh ones.
func ownerSavesAndCutsOperator(t *testing.T, f *fleet, tab *browsertest.Tab, op *agent, fixed string, port uint16) {
	t.Helper()
	var before wire.PolicyVersion
	f.Admin("GET", wire.PathAdminPolicy, nil, &before)
	const comment = "operators lose the camera"
	tab.Do("comment", chromedp.SendKeys(chromedp.CSS("#comment"), comment), chromedp.WaitEnabled(chromedp.CSS("#save")))

	w := watchDials(op, "cam1", port)
	defer w.stop()
	clicked := time.Now()
	tab.Do("save", chromedp.Click(chromedp.CSS("#save")))
	tab.Poll("the save", `document.getElementById('save-status').textContent.includes('Saved')`)
	tab.Shot("e2e-5-owner-saved")

	var v wire.PolicyVersion
	f.Admin("GET", wire.PathAdminPolicy, nil, &v)
	if v.ID <= before.ID || v.Text != fixed || v.Comment != comment || v.Author != "user:carol@example.com" {
		t.Fatalf("running version %d (was %d) by %q (%q), text as typed: %v", v.ID, before.ID, v.Author, v.Comment, v.Text == fixed)
	}
	r, accepted := w.firstRefusalAfter(t, v.CreatedAt, 20*time.Second)
	fromClick, fromCommit := r.end.Sub(clicked), r.end.Sub(v.CreatedAt)
	t.Logf("save -> operator's fresh connection refused: %v from the click on Save, %v from the coordinator's commit of version %d; "+
		"under 1 s: %v; %d fresh attempts (one every 20 ms) were accepted after the commit; the refused one (started %v after the commit) ran %v: %v",
		fromClick.Round(time.Millisecond), fromCommit.Round(time.Millisecond), v.ID, fromClick < time.Second, accepted,
		r.start.Sub(v.CreatedAt).Round(time.Millisecond), r.end.Sub(r.start).Round(time.Millisecond), r.err)
	// Once refused, refused for good.
	waitFor(t, "three more fresh attempts", func() bool { return len(w.startedAfter(r.end)) >= 3 })
	w.stop()
	for _, a := range w.startedAfter(r.end) {
		if a.err == nil {
			t.Errorf("a fresh connection made %v after the refusal went through", a.start.Sub(r.end))
		}
	}
}

// dialAttempt is one fresh connection attempt from the operator.
type dialAttempt struct {
	start, end time.Time
	err        error // nil when the connection was made
}

// dialWatch starts a fresh connection attempt through the overlay at a
// steady pace, each on its own, so one that waits for its timeout delays
// no other, until stopped.
type dialWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup // counts the pacer and the attempts running

	mu       sync.Mutex // mu guards attempts
	attempts []dialAttempt
}

// watchDials starts an attempt from ag to peer:port every 20 ms: a dial
// with a short timeout, closed once made. (Through the overlay, a dial
// succeeds only once the peer's own service has accepted.)
func watchDials(ag *agent, peer string, port uint16) *dialWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &dialWatch{cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			w.wg.Add(1)
			go w.attempt(ag, peer, port)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *dialWatch) attempt(ag *agent, peer string, port uint16) {
	defer w.wg.Done()
	start := time.Now()
	c, err := ag.dial(peer, port)
	end := time.Now()
	if err == nil {
		c.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, dialAttempt{start: start, end: end, err: err})
}

// firstRefusalAfter waits for an attempt started after t0 to fail and
// returns the one that failed first, with the number of attempts started
// after t0 that were made before it; it fails the test when none has
// failed after deadline.
func (w *dialWatch) firstRefusalAfter(t *testing.T, t0 time.Time, deadline time.Duration) (dialAttempt, int) {
	t.Helper()
	for start := time.Now(); time.Since(start) < deadline; time.Sleep(10 * time.Millisecond) {
		as := w.startedAfter(t0)
		var first *dialAttempt
		for i, a := range as {
			if a.err != nil && (first == nil || a.end.Before(first.end)) {
				first = &as[i]
			}
		}
		if first == nil {
			continue
		}
		accepted := 0
		for _, a := range as {
			if a.err == nil && a.end.Before(first.end) {
				accepted++
			}
		}
		return *first, accepted
	}
	t.Fatalf("the operator's fresh connections were still accepted %v after the save", deadline)
	return dialAttempt{}, 0
}

// startedAfter returns the finished attempts that started after t0.
func (w *dialWatch) startedAfter(t0 time.Time) []dialAttempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []dialAttempt
	for _, a := range w.attempts {
		if a.start.After(t0) {
			out = append(out, a)
		}
	}
	return out
}

// stop ends the attempts and waits for those running. It is idempotent.
func (w *dialWatch) stop() {
	w.cancel()
	w.wg.Wait()
}

// auditorCannotSave logs alice (an auditor) in on tab, a browser context
// of her own, checks the editor is read-only without a save control, and
// that a save from her session is refused and changes nothing.
func auditorCannotSave(t *testing.T, f *fleet, tab *browsertest.Tab, policy string, op *agent, port uint16) {
	t.Helper()
	tab.Login(f.url()+"/ui/policy", devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"})
	tab.Poll("the auditor's editor", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	if who, role := tab.Text("#who"), tab.Text("#role"); who != "alice@example.com" || role != "auditor" {
		t.Errorf("logged in as %q (%s), want alice@example.com (auditor)", who, role)
	}
	if browsertest.Eval[bool](tab, `document.getElementById('save') !== null || document.getElementById('save-box') !== null`) {
		t.Error("the auditor's editor has a save control")
	}
	if !browsertest.Eval[bool](tab, `document.getElementById('readonly-note') !== null`) {
		t.Error("no read-only note for the auditor")
	}
	if ro := browsertest.Eval[string](tab, `document.querySelector('.cm-content').getAttribute('aria-readonly')`); ro != "true" {
		t.Errorf("the auditor's editor is not marked read-only (aria-readonly %q)", ro)
	}
	tab.Shot("e2e-6-auditor-policy")
	shown := tab.Text(".cm-content")
	tab.TypePolicy("{}")
	if now := tab.Text(".cm-content"); now != shown {
		t.Errorf("typing changed the auditor's read-only editor: %q", now)
	}

	var before wire.PolicyVersion
	f.Admin("GET", wire.PathAdminPolicy, nil, &before)
	status, body := tab.Fetch("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy, Comment: "auditor restores the grant", ParentID: before.ID})
	if status != 403 || !strings.Contains(body, "auditor") {
		t.Errorf("auditor's PUT policy: HTTP %d %s, want 403 for the role", status, body)
	}
	t.Logf("auditor's save from her session: HTTP %d %s", status, strings.TrimSpace(body))
	var after wire.PolicyVersion
	f.Admin("GET", wire.PathAdminPolicy, nil, &after)
	if after.ID != before.ID || after.Text != before.Text {
		t.Errorf("the refused save changed the policy: version %d -> %d", before.ID, after.ID)
	}
	if op.roundTrip("cam1", port) == nil {
		t.Error("the operator reaches the camera again after the auditor's refused save")
	}
	tab.Do("reload the editor", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".cm-content")))
	if running := tab.Text("#running"); !strings.Contains(running, fmt.Sprintf("version %d by carol@example.com", before.ID)) {
		t.Errorf("after the refused save the editor shows %q", running)
	}
	tab.Shot("e2e-7-auditor-after-refused-save")
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("auditor's browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}
