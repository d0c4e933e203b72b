package store

import (
	"context"
	"time"
)

// AccessRequestID identifies an access request.
type AccessRequestID int64

// RequestStatus is where an access request stands.
type RequestStatus string

// Request statuses. A request starts pending; approval or denial decide
// it once; only an approved one may then be revoked.
const (
	RequestPending  RequestStatus = "pending"
	RequestApproved RequestStatus = "approved"
	RequestDenied   RequestStatus = "denied"
	RequestRevoked  RequestStatus = "revoked"
)

// AccessRequest is a person's request for time-bound access to one port
// of one device.
type AccessRequest struct {
	ID     AccessRequestID
	UserID UserID
	NodeID NodeID
	// Proto is an IP protocol number; Port the destination port.
	Proto    uint8
	Port     uint16
	Duration time.Duration
	Reason   string
	Status   RequestStatus
	// CreatedAt is when it was made.
	CreatedAt time.Time
	// DecidedBy names the approver, denier or revoker as an audit actor;
	// empty while pending. DecidedAt is when; zero while pending.
	DecidedBy string
	DecidedAt time.Time
	// Expires is when an approved request's access ends; zero otherwise.
	Expires time.Time
}

// NewAccessRequest is a request to store (pending).
type NewAccessRequest struct {
	// UserID and NodeID are required.
	UserID UserID
	NodeID NodeID
	Proto  uint8
	// Port is required (non-zero).
	Port uint16
	// Duration is required (positive).
	Duration time.Duration
	Reason   string
	// CreatedAt is zero for "now".
	CreatedAt time.Time
}

// RequestDecision moves a request: to approved or denied (from pending),
// or to revoked (from approved).
type RequestDecision struct {
	Status RequestStatus
	By     string
	At     time.Time
	// Expires is the access's end, for an approval.
	Expires time.Time
}

// AccessRequests keeps just-in-time access requests.
type AccessRequests interface {
	// CreateAccessRequest stores a pending request (ErrInvalid for a
	// missing field).
	CreateAccessRequest(ctx context.Context, r NewAccessRequest) (AccessRequest, error)
	// AccessRequest returns one request (ErrNotFound).
	AccessRequest(ctx context.Context, id AccessRequestID) (AccessRequest, error)
	// ListAccessRequests returns every request, newest first.
	ListAccessRequests(ctx context.Context) ([]AccessRequest, error)
	// DecideAccessRequest applies d in one write and returns the request
	// after it: ErrConflict when the request is not in the status d moves
	// from (a request is decided once), ErrInvalid for another status.
	DecideAccessRequest(ctx context.Context, id AccessRequestID, d RequestDecision) (AccessRequest, error)
}
