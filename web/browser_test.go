package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web/browsertest"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// Policies the admin types: one with an unknown tag, and its fix, which
// drops RTSP (554) from the operators' camera grant.
var (
	brokenPolicy = strings.Replace(webtest.SeedPolicy, `"tag:camera:80,443,554"`, `"tag:kamera:80,443,554"`, 1)
	fixedPolicy  = strings.Replace(webtest.SeedPolicy, `"tag:camera:80,443,554"`, `"tag:camera:80,443"`, 1)
)

// lineOf returns the 1-based line of text holding substr.
func lineOf(text, substr string) int {
	return strings.Count(text[:strings.Index(text, substr)], "\n") + 1
}

// TestBrowserAdminEditsPolicy: an admin logs in through the OIDC login
// form, types a policy with an error and sees it marked at its line, fixes
// it, sees the impact preview name the grant that disappears, saves, and is
// told clearly when another admin saved first.
func TestBrowserAdminEditsPolicy(t *testing.T) {
	e := newBrowserEnv(t)
	tab := e.browser(t)
	e.login(tab, "admin", "/ui/policy")
	tab.Poll("the editor to check the running policy", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	tab.Do("run tests", chromedp.Click(chromedp.CSS("#run-tests")), chromedp.WaitVisible(chromedp.CSS("#tests li.pass")))
	if got := tab.Text("#tests-status"); got != "All 3 passed" {
		t.Errorf("tests status %q", got)
	}
	tab.Shot("policy")

	wantLine := lineOf(brokenPolicy, "tag:kamera")
	tab.TypePolicy(brokenPolicy)
	tab.WaitErrorMarked()
	if got := tab.ListedLine(); got != itoa(wantLine) {
		t.Errorf("problem listed at line %s, want %d (%s)", got, wantLine, tab.Text("#problems"))
	}
	if got := tab.MarkedLine(); got != wantLine {
		t.Errorf("editor marks line %d, want %d", got, wantLine)
	}
	tab.Shot("policy-error")

	tab.TypePolicy(fixedPolicy)
	tab.Poll("the fixed policy to check", `document.getElementById('check-status').textContent.startsWith('Valid') && !document.querySelector('.cm-lintRange-error')`)
	tab.Do("preview", chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#impact-removed")))
	if removed := tab.Text("#impact-removed"); !strings.Contains(removed, "alice@example.com → cam-1 tcp:554") {
		t.Errorf("impact preview does not name the grant that disappears: %q", removed)
	}
	tab.Shot("policy-impact")

	tab.Do("save", chromedp.SendKeys(chromedp.CSS("#comment"), "operators: no RTSP"), chromedp.WaitEnabled(chromedp.CSS("#save")), chromedp.Click(chromedp.CSS("#save")))
	tab.Poll("the save", `document.getElementById('save-status').textContent.includes('Saved')`)
	if v := e.policyVersion(t); v.ID != 2 || v.Text != fixedPolicy || v.Comment != "operators: no RTSP" || v.Author != "user:admin@example.com" {
		t.Fatalf("saved version = %d by %q (%q), text equal: %v", v.ID, v.Author, v.Comment, v.Text == fixedPolicy)
	}

	// Another admin saves version 3; this editor still edits version 2.
	if _, err := e.b.SetPolicy(context.Background(), fixedPolicy+"// by someone else\n", "other", 2, admin.Principal{Actor: "user:other@example.com", Role: admin.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	tab.TypePolicy(fixedPolicy + "// mine\n")
	tab.Do("second save", chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitEnabled(chromedp.CSS("#save")), chromedp.Click(chromedp.CSS("#save")))
	tab.Poll("the conflict", `document.getElementById('save-status').textContent.includes('Conflict')`)
	if v := e.policyVersion(t); v.ID != 3 {
		t.Fatalf("a stale save went through: version %d", v.ID)
	}
	tab.Shot("policy-conflict")
	e.visitPages(tab)
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors (CSP violations included):\n%s", strings.Join(errs, "\n"))
	}
}

// visitPages opens and screenshots every other page.
func (e *browserEnv) visitPages(tab *browsertest.Tab) {
	for _, p := range []struct{ name, path, sel string }{
		{"devices", "/ui/devices", "#devices"},
		{"devices-filtered", "/ui/devices?tag=tag%3Acamera&status=online", "#devices"},
		{"device", "/ui/devices/cam-1", "#access"},
		{"users", "/ui/users", "#users"},
		{"keys", "/ui/keys", "#authkeys"},
		{"versions", "/ui/policy/versions", "#versions"},
		{"version-diff", "/ui/policy/versions/2", "#diff"},
		{"audit", "/ui/audit", "#audit"},
	} {
		tab.Do("open "+p.path, chromedp.Navigate(e.base+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
		tab.Shot(p.name)
	}
}

// TestBrowserAuditorReadsPolicy: an auditor sees the policy in a read-only
// editor with no save control, and the API refuses a save from their
// session.
func TestBrowserAuditorReadsPolicy(t *testing.T) {
	e := newBrowserEnv(t)
	tab := e.browser(t)
	e.login(tab, "auditor", "/ui/policy")
	tab.Poll("the editor", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	if browsertest.Eval[bool](tab, `document.getElementById('save') !== null`) {
		t.Error("the auditor's editor has a save control")
	}
	if !browsertest.Eval[bool](tab, `document.getElementById('readonly-note') !== null`) {
		t.Error("no read-only note for the auditor")
	}
	if got := browsertest.Eval[string](tab, `document.querySelector('.cm-content').getAttribute('aria-readonly') || document.querySelector('.cm-content').contentEditable`); got != "true" && got != "false" {
		t.Errorf("editor editability = %q", got)
	}
	tab.Shot("auditor-policy")
	before, writes := e.policyVersion(t), e.b.Writes()
	status, _ := tab.Fetch("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: "{}", Comment: "auditor", ParentID: -1})
	if status != 403 {
		t.Errorf("auditor's PUT policy: HTTP %d, want 403", status)
	}
	if after := e.policyVersion(t); after.ID != before.ID || e.b.Writes() != writes {
		t.Errorf("the refused save changed the backend: version %d -> %d", before.ID, after.ID)
	}
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserNoAccess: a member without an admin role sees the "no access"
// page, and can log out.
func TestBrowserNoAccess(t *testing.T) {
	e := newBrowserEnv(t)
	tab := e.browser(t)
	e.login(tab, "member", "/ui/devices")
	tab.Do("no-access page", chromedp.WaitVisible(chromedp.CSS("#no-access")))
	if got := tab.Text("#no-access"); !strings.Contains(got, "member@example.com") || !strings.Contains(got, "ops") {
		t.Errorf("no-access page says %q", got)
	}
	tab.Shot("no-access")
	tab.Do("logout", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("a.button")))
	tab.Shot("logged-out")
	for _, m := range tab.ConsoleErrors() {
		if !strings.Contains(m, "status of 403") {
			t.Errorf("browser console error: %s", m)
		}
	}
}

// TestBrowserBadTagKeepsInput: an admin types a tag the policy does not
// own on a device's page and in the pre-auth key form; each time the same
// form comes back with the error and the input, focused, and the fixed
// input then saves.
func TestBrowserBadTagKeepsInput(t *testing.T) {
	e := newBrowserEnv(t)
	tab := e.browser(t)
	e.login(tab, "admin", "/ui/devices/cam-2")
	typed := "tag:sensor, tag:nope"
	tab.Do("type a bad tag", chromedp.WaitVisible(chromedp.CSS("#tags-input")), chromedp.Clear(chromedp.CSS("#tags-input")),
		chromedp.SendKeys(chromedp.CSS("#tags-input"), typed), chromedp.Click(chromedp.CSS("#save-tags")),
		chromedp.WaitVisible(chromedp.CSS("#tags-error")))
	if got := tab.Text("#tags-error"); !strings.Contains(got, "tag:nope") {
		t.Errorf("tags error says %q", got)
	}
	if got := browsertest.Eval[string](tab, `document.getElementById('tags-input').value`); got != typed {
		t.Errorf("tags field holds %q after the refusal, want %q", got, typed)
	}
	if got := browsertest.Eval[string](tab, `document.activeElement && document.activeElement.id`); got != "tags-input" {
		t.Errorf("focus is on %q, not on the refused field", got)
	}
	tab.Shot("device-bad-tag")
	tab.Do("fix the tag", chromedp.Clear(chromedp.CSS("#tags-input")), chromedp.SendKeys(chromedp.CSS("#tags-input"), "tag:sensor"),
		chromedp.Click(chromedp.CSS("#save-tags")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if got := tab.Text("#tags"); !strings.Contains(got, "tag:sensor") || strings.Contains(got, "tag:camera") {
		t.Errorf("device tags after the fix: %q", got)
	}

	tab.Do("open keys", chromedp.Navigate(e.base+"/ui/keys"), chromedp.WaitVisible(chromedp.CSS("#create-authkey")))
	tab.Do("create a key with a bad tag", chromedp.SendKeys(chromedp.CSS("#authkey-tags"), "tag:camera tag:nope"),
		chromedp.Click(chromedp.CSS("#authkey-reusable")), chromedp.SetValue(chromedp.CSS("#authkey-expiry"), "168h"),
		chromedp.Click(chromedp.CSS("#create-authkey button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#authkey-error")))
	kept := browsertest.Eval[string](tab, `[document.getElementById('authkey-tags').value, document.getElementById('authkey-reusable').checked,
		document.getElementById('authkey-ephemeral').checked, document.getElementById('authkey-expiry').value].join('|')`)
	if kept != "tag:camera tag:nope|true|false|168h" {
		t.Errorf("key form after the refusal holds %q", kept)
	}
	tab.Shot("keys-bad-tag")
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAdminEditsAlertRules: the alert rules page's editor checks
// a draft as the admin types (a problem marked at its line and listed),
// and the page's own form saves exactly what the editor holds.
func TestBrowserAdminEditsAlertRules(t *testing.T) {
	e := newBrowserEnv(t)
	tab := e.browser(t)
	e.login(tab, "admin", "/ui/alerts/rules")
	tab.Poll("the rules editor to check the running rules",
		`document.querySelector('#rules-editor.ready') !== null && document.getElementById('rules-check').textContent === 'Valid'`)
	broken := "{\n  \"rules\": [\n    {\"name\": \"cams\", \"kind\": \"device_offlin\", \"for\": \"1m\"},\n  ],\n}\n"
	tab.TypePolicy(broken)
	tab.Poll("the problem marked", `document.querySelector('#rules-live-problems li') !== null && document.querySelector('.cm-lintRange-error') !== null`)
	if got := browsertest.Eval[string](tab, `document.querySelector('#rules-live-problems li').dataset.line`); got != "3" {
		t.Errorf("problem listed at line %s, want 3 (%s)", got, tab.Text("#rules-live-problems"))
	}
	if got := tab.MarkedLine(); got != 3 {
		t.Errorf("editor marks line %d, want 3", got)
	}
	tab.Shot("alertrules-error")
	fixed := "{\n  \"webhooks\": [{\"name\": \"ops\", \"url\": \"https://hooks.example.com/ward\", \"secret\": \"s3cret-s3cret-s3cret\"}],\n" +
		"  \"rules\": [\n    {\"name\": \"cams\", \"kind\": \"device_offline\", \"for\": \"1m\", \"to\": [\"ops\"]},\n  ],\n}\n"
	tab.TypePolicy(fixed)
	tab.Poll("the fixed rules to check", `document.getElementById('rules-check').textContent === 'Valid' && !document.querySelector('.cm-lintRange-error')`)
	tab.Do("save", chromedp.SendKeys(chromedp.CSS("#rules-comment"), "cameras offline"), chromedp.Click(chromedp.CSS("#rules-save")))
	var v wire.PolicyVersion
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if v, err = e.b.AlertRulesVersion(context.Background(), 1); err == nil {
			break
		}
	}
	tab.Do("the page after the save", chromedp.WaitVisible(chromedp.CSS("#rules-version-1")))
	if err != nil || v.Text != fixed || v.Comment != "cameras offline" {
		t.Fatalf("saved version 1: %v, text %q (%q); want the editor's text", err, v.Text, v.Comment)
	}
	tab.Shot("alertrules-saved")
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors (CSP violations included):\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserDevicesPages: an admin pages through a fleet larger than one
// page of the Devices page with its Next page link, sees the last page
// end with no such link, goes back one page and then two with Previous
// page, and comes back with First page.
func TestBrowserDevicesPages(t *testing.T) {
	e := newBrowserEnv(t)
	added := e.b.AddSensors(450)
	tab := e.browser(t)
	e.login(tab, "admin", "/ui/devices")
	rows := func() int {
		return browsertest.Eval[int](tab, `document.querySelectorAll('#devices tbody tr[id^="device-"]').length`)
	}
	tab.Do("first page", chromedp.WaitVisible(chromedp.CSS("#devices-next")))
	if n := rows(); n != 200 {
		t.Errorf("first page: %d rows, want 200", n)
	}
	tab.Do("second page", chromedp.Click(chromedp.CSS("#devices-next")), chromedp.WaitVisible(chromedp.CSS("#devices-first")))
	if n := rows(); n != 200 {
		t.Errorf("second page: %d rows, want 200", n)
	}
	tab.Do("last page", chromedp.Click(chromedp.CSS("#devices-next")), chromedp.WaitVisible(chromedp.CSS("#device-"+added[len(added)-1])))
	if has := browsertest.Eval[bool](tab, `!!document.getElementById('devices-next')`); has {
		t.Error("the last page links to a next page")
	}
	tab.Shot("devices-last-page")
	tab.Do("previous page", chromedp.Click(chromedp.CSS("#devices-prev")), chromedp.WaitVisible(chromedp.CSS("#devices-next")))
	if n, has := rows(), browsertest.Eval[bool](tab, `!!document.getElementById('device-`+added[200]+`')`); n != 200 || !has {
		t.Errorf("second page again: %d rows, device %s shown %v; want 200 and it", n, added[200], has)
	}
	tab.Do("next again", chromedp.Click(chromedp.CSS("#devices-next")), chromedp.WaitVisible(chromedp.CSS("#device-"+added[len(added)-1])))
	tab.Do("previous twice", chromedp.Click(chromedp.CSS("#devices-prev")), chromedp.WaitVisible(chromedp.CSS("#device-"+added[200])),
		chromedp.Click(chromedp.CSS("#devices-prev")), chromedp.WaitVisible(chromedp.CSS("#device-"+added[0])))
	if has := browsertest.Eval[bool](tab, `!!document.getElementById('devices-prev')`); has || rows() != 200 {
		t.Errorf("first page by Previous: %d rows, previous-page link %v", rows(), has)
	}
	tab.Do("to the last again", chromedp.Click(chromedp.CSS("#devices-next")), chromedp.WaitVisible(chromedp.CSS("#devices-first")),
		chromedp.Click(chromedp.CSS("#devices-next")), chromedp.WaitVisible(chromedp.CSS("#device-"+added[len(added)-1])))
	tab.Do("back to the first", chromedp.Click(chromedp.CSS("#devices-first")), chromedp.WaitVisible(chromedp.CSS("#devices-next")))
	if has := browsertest.Eval[bool](tab, `!!document.getElementById('devices-first')`); has || rows() != 200 {
		t.Errorf("first page again: %d rows, first-page link %v", rows(), has)
	}
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}
