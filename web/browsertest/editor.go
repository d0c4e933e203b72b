package browsertest

import (
	"context"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TypePolicy replaces the policy editor's text as a person would: focus,
// select all, delete, then insert the text (as an IME or a paste does).
// Inserting over a selection instead makes Chromium's own editing code
// build a node with a style attribute, which the CSP refuses.
func (p *Tab) TypePolicy(text string) {
	p.t.Helper()
	p.Do("type the policy",
		chromedp.Click(chromedp.CSS(".cm-content")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}),
	)
}

// markedLineJS is the editor line (1-based) holding the first error mark,
// or -1.
const markedLineJS = `(() => {
  const mark = document.querySelector('.cm-lintRange-error');
  if (!mark) return -1;
  const lines = [...document.querySelectorAll('.cm-content > .cm-line')];
  return lines.indexOf(mark.closest('.cm-line')) + 1;
})()`

// MarkedLine returns the editor line (1-based) that holds the first error
// mark, or -1 when none is marked. The editor renders only the lines in
// view, so the mark must be on screen.
func (p *Tab) MarkedLine() int {
	p.t.Helper()
	return Eval[int](p, markedLineJS)
}

// WaitErrorMarked waits until the editor marks an error in the text and in
// the gutter, and the problem list lists one.
func (p *Tab) WaitErrorMarked() {
	p.t.Helper()
	p.Poll("the problem list", `document.querySelector('#problems li') !== null`)
	p.Poll("the error mark", `document.querySelector('.cm-lintRange-error') !== null && document.querySelector('.cm-lint-marker-error') !== null`)
}

// ListedLine returns the line of the first problem the problem list lists,
// as the page gives it ("" when none).
func (p *Tab) ListedLine() string {
	p.t.Helper()
	return Eval[string](p, `(document.querySelector('#problems li') || {dataset: {}}).dataset.line || ''`)
}
