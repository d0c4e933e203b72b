// Package acl is Ward's policy: it parses a policy file (HuJSON, in the
// shape of Tailscale's ACLs), validates it with line:col problems, resolves
// its aliases (groups, the IdP's groups, tags, hosts, autogroups), compiles
// it against an inventory of nodes into each node's inbound filter and
// peer set (incrementally as nodes come and go), and runs the policy's own
// tests with the data plane's matcher (package filter).
//
// It also analyses a compiled policy for people: who may reach a device
// (AccessTo) and which grants a policy change adds and removes (ImpactOf).
// It imports only package filter, so that the policy's tests and the
// packets agree.
//
// The pipeline is Parse → Resolve (Check runs both and the tests) →
// Compile; Compiled.AddNode, RemoveNode and UpdateNode keep a compiled
// policy current.
package acl
