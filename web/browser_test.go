package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/wardnet/ward/web/webtest"
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

// typePolicy replaces the editor's text as a person would: focus, select
// all, delete, then insert the text (as an IME or a paste does). Inserting
// over a selection instead makes Chromium's own editing code build a node
// with a style attribute, which the CSP refuses.
func typePolicy(ctx context.Context, text string) error {
	return chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".cm-content")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}),
	)
}

// markedLine is the editor line (1-based) holding the first error mark, or
// -1.
const markedLine = `(() => {
  const mark = document.querySelector('.cm-lintRange-error');
  if (!mark) return -1;
  const lines = [...document.querySelectorAll('.cm-content > .cm-line')];
  return lines.indexOf(mark.closest('.cm-line')) + 1;
})()`

func poll(ctx context.Context, t *testing.T, what, js string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](js)); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](ctx context.Context, t *testing.T, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	return v
}

// TestBrowserAdminEditsPolicy: an admin logs in through the OIDC login
// form, types a policy with an error and sees it marked at its line, fixes
// it, sees the impact preview name the grant that disappears, saves, and is
// told clearly when another admin saved first.
func TestBrowserAdminEditsPolicy(t *testing.T) {
	e := newBrowserEnv(t)
	ctx, console := e.browser(t)
	if err := e.login(ctx, "admin", "/ui/policy"); err != nil {
		t.Fatalf("login: %v", err)
	}
	poll(ctx, t, "the editor to check the running policy", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#run-tests")), chromedp.WaitVisible(chromedp.CSS("#tests li.pass"))); err != nil {
		t.Fatalf("run tests: %v", err)
	}
	if got := text(ctx, t, "#tests-status"); got != "All 3 passed" {
		t.Errorf("tests status %q", got)
	}
	e.shot(t, ctx, "policy")

	wantLine := lineOf(brokenPolicy, "tag:kamera")
	if err := typePolicy(ctx, brokenPolicy); err != nil {
		t.Fatalf("type: %v", err)
	}
	poll(ctx, t, "the problem list", `document.querySelector('#problems li') !== null`)
	poll(ctx, t, "the error mark", `document.querySelector('.cm-lintRange-error') !== null && document.querySelector('.cm-lint-marker-error') !== null`)
	if got := eval[string](ctx, t, `document.querySelector('#problems li').dataset.line`); got != itoa(wantLine) {
		t.Errorf("problem listed at line %s, want %d (%s)", got, wantLine, text(ctx, t, "#problems"))
	}
	if got := eval[int](ctx, t, markedLine); got != wantLine {
		t.Errorf("editor marks line %d, want %d", got, wantLine)
	}
	e.shot(t, ctx, "policy-error")

	if err := typePolicy(ctx, fixedPolicy); err != nil {
		t.Fatalf("type: %v", err)
	}
	poll(ctx, t, "the fixed policy to check", `document.getElementById('check-status').textContent.startsWith('Valid') && !document.querySelector('.cm-lintRange-error')`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#impact-removed"))); err != nil {
		t.Fatalf("preview: %v", err)
	}
	if removed := text(ctx, t, "#impact-removed"); !strings.Contains(removed, "alice@example.com → cam-1 tcp:554") {
		t.Errorf("impact preview does not name the grant that disappears: %q", removed)
	}
	e.shot(t, ctx, "policy-impact")

	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#comment"), "operators: no RTSP"), chromedp.WaitEnabled(chromedp.CSS("#save")), chromedp.Click(chromedp.CSS("#save"))); err != nil {
		t.Fatalf("save: %v", err)
	}
	poll(ctx, t, "the save", `document.getElementById('save-status').textContent.includes('Saved')`)
	if v := e.policyVersion(t); v.ID != 2 || v.Text != fixedPolicy || v.Comment != "operators: no RTSP" || v.Author != "user:admin@example.com" {
		t.Fatalf("saved version = %d by %q (%q), text equal: %v", v.ID, v.Author, v.Comment, v.Text == fixedPolicy)
	}

	// Another admin saves version 3; this editor still edits version 2.
	if _, err := e.b.SetPolicy(context.Background(), fixedPolicy+"// by someone else\n", "other", 2, "user:other@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := typePolicy(ctx, fixedPolicy+"// mine\n"); err != nil {
		t.Fatalf("type: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitEnabled(chromedp.CSS("#save")), chromedp.Click(chromedp.CSS("#save"))); err != nil {
		t.Fatalf("second save: %v", err)
	}
	poll(ctx, t, "the conflict", `document.getElementById('save-status').textContent.includes('Conflict')`)
	if v := e.policyVersion(t); v.ID != 3 {
		t.Fatalf("a stale save went through: version %d", v.ID)
	}
	e.shot(t, ctx, "policy-conflict")
	e.visitPages(t, ctx)
	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("browser console errors (CSP violations included):\n%s", strings.Join(errs, "\n"))
	}
}

// visitPages opens and screenshots every other page.
func (e *browserEnv) visitPages(t *testing.T, ctx context.Context) {
	t.Helper()
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
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel))); err != nil {
			t.Fatalf("open %s: %v", p.path, err)
		}
		e.shot(t, ctx, p.name)
	}
}

// TestBrowserAuditorReadsPolicy: an auditor sees the policy in a read-only
// editor with no save control, and the API refuses a save from their
// session.
func TestBrowserAuditorReadsPolicy(t *testing.T) {
	e := newBrowserEnv(t)
	ctx, console := e.browser(t)
	if err := e.login(ctx, "auditor", "/ui/policy"); err != nil {
		t.Fatalf("login: %v", err)
	}
	poll(ctx, t, "the editor", `document.getElementById('check-status').textContent.startsWith('Valid')`)
	if eval[bool](ctx, t, `document.getElementById('save') !== null`) {
		t.Error("the auditor's editor has a save control")
	}
	if !eval[bool](ctx, t, `document.getElementById('readonly-note') !== null`) {
		t.Error("no read-only note for the auditor")
	}
	if got := eval[string](ctx, t, `document.querySelector('.cm-content').getAttribute('aria-readonly') || document.querySelector('.cm-content').contentEditable`); got != "true" && got != "false" {
		t.Errorf("editor editability = %q", got)
	}
	e.shot(t, ctx, "auditor-policy")
	before, writes := e.policyVersion(t), e.b.Writes()
	status := eval[int](ctx, t, `fetch('/ward/v1/admin/policy', {method: 'PUT', headers: {'Content-Type': 'application/json',
	  'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content},
	  body: JSON.stringify({text: '{}', comment: 'auditor', parent_id: -1})}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != 403 {
		t.Errorf("auditor's PUT policy: HTTP %d, want 403", status)
	}
	if after := e.policyVersion(t); after.ID != before.ID || e.b.Writes() != writes {
		t.Errorf("the refused save changed the backend: version %d -> %d", before.ID, after.ID)
	}
	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserNoAccess: a member without an admin role sees the "no access"
// page, and can log out.
func TestBrowserNoAccess(t *testing.T) {
	e := newBrowserEnv(t)
	ctx, console := e.browser(t)
	if err := e.login(ctx, "member", "/ui/devices"); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#no-access"))); err != nil {
		t.Fatalf("no-access page: %v", err)
	}
	if got := text(ctx, t, "#no-access"); !strings.Contains(got, "member@example.com") || !strings.Contains(got, "ops") {
		t.Errorf("no-access page says %q", got)
	}
	e.shot(t, ctx, "no-access")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("a.button"))); err != nil {
		t.Fatalf("logout: %v", err)
	}
	e.shot(t, ctx, "logged-out")
	for _, m := range console.errors() {
		if !strings.Contains(m, "status of 403") {
			t.Errorf("browser console error: %s", m)
		}
	}
}
