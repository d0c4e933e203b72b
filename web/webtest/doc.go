// Package webtest has fakes for testing package web: Backend, an in-memory
// coordinator that keeps a real policy (validated and compiled by package
// acl), and IdP, a test identity provider with a real HTML login form that
// implements web.Login.
package webtest
