// Package browsertest drives the admin UI in a real headless Chromium
// (Debian's, at ChromiumPath) with chromedp, for the browser tests of
// package web and of the end-to-end suite: start a browser or a fresh
// browser context, log a person in through the development OIDC
// provider's login form, type in the CodeMirror policy editor, read its
// diagnostics, call the admin API from the page's session, and write
// screenshots. Its helpers fail the test on error; a test without
// Chromium is skipped, saying so, or fails when CI=true.
package browsertest
