package store

import (
	"context"
	"encoding/json"
	"time"
)

// AuditID identifies an audit event; IDs increase in append order.
type AuditID int64

// AuditEvent records who did what, when and from where.
type AuditEvent struct {
	// ID is assigned by the store.
	ID AuditID
	// Time is when it happened.
	Time time.Time
	// Actor is who did it: "apikey:ab12", "node:5", "user:alice@x".
	Actor string
	// Action is what was done, dotted: "node.register", "policy.save".
	Action string
	// Target is what it was done to ("node:7"); may be empty.
	Target string
	// Source is the remote address it came from; may be empty.
	Source string
	// Detail is a JSON value with more facts; may be empty.
	Detail json.RawMessage
	// PrevHash and Hash chain the event to the one before it (see
	// package auditchain); set by the store, empty for events written
	// before the chain began.
	PrevHash, Hash string
	// Seal, when set, makes Detail from the chain's head (the hash the
	// event's PrevHash will be): AppendAudit calls it inside its
	// transaction, so a signed checkpoint covers exactly the events
	// before it. Not stored.
	Seal func(head string, at time.Time) (json.RawMessage, error)
}

// AuditOrder is the order in which ListAudit returns events.
type AuditOrder int

// Orders for AuditFilter.Order.
const (
	// NewestFirst lists the latest events first.
	NewestFirst AuditOrder = iota
	// OldestFirst lists the earliest events first.
	OldestFirst
	// ByID lists events in append order (the chain's), whatever their
	// times say.
	ByID
)

// AuditFilter selects audit events. Zero fields select everything.
type AuditFilter struct {
	// Since and Until bound the event time: Since <= Time < Until.
	Since time.Time
	Until time.Time
	// Actor and Target match exactly.
	Actor  string
	Target string
	// ActionPrefix matches actions that start with it ("node." for every
	// node action).
	ActionPrefix string
	// AfterID selects the events appended after the one with that ID.
	AfterID AuditID
	// Limit caps the number of events; 0 means no cap.
	Limit int
	// Order sorts by Time, then ID (or by ID alone).
	Order AuditOrder
}

// Audit is the append-only audit log; every part of the coordinator appends
// to it, the admin API and exporters read it.
type Audit interface {
	// AppendAudit stores e (its ID and hashes are ignored) and returns it
	// with its ID and its place in the hash chain (PrevHash: the last
	// event's Hash; Hash: auditchain.Sum), both set in the same
	// transaction as the insert. A non-empty Detail must be valid JSON
	// (ErrInvalid); a zero Time means now.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// ListAudit returns the events f selects.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}
