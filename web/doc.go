// Package web is Ward's admin surface: the server-rendered admin UI under
// /ui/ and the admin JSON API under /ward/v1/admin/, both served by one
// echo handler built with New.
//
// People log in through the coordinator's SSO (Login) and get a server-side
// session; programs use API keys as bearer tokens on the JSON API only.
// Every page and every API call checks the principal's role on the server
// (see the role matrix on admin.Perm). Every state-changing request made with a
// session cookie carries the session's CSRF token (a form field named
// csrf_token or an X-CSRF-Token header). Every response carries a strict
// Content-Security-Policy: the pages have no inline script or style.
//
// What the UI needs from the coordinator is the Backend interface; package
// web/webtest has an in-memory fake for tests.
package web
