// Package archtest holds the guards of Ward's architecture, as tests: the
// import graph keeps its edges (the leaves stay leaves, the coordinator
// stays a domain service without the UI or the development IdP, a node
// never pulls in a person's client) and every package says what it is
// for. It has no code of its own; `make test` runs it with the rest.
package archtest
