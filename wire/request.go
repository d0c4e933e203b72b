package wire

import "time"

// Just-in-time access (issue 17, protocol 11).
const (
	// PathRequests is where a person's node asks for time-bound access
	// (POST AccessRequestCreate, answered with an AccessRequest) and lists
	// its owner's requests (GET), with its control session.
	PathRequests = "/ward/v1/requests"
	// PathAdminRequests lists every request (GET); PathAdminRequests/{id}/approve,
	// /deny and /revoke decide one (POST).
	PathAdminRequests = "/ward/v1/admin/requests"
)

// MaxSelfRequests bounds the requests a person's node's Self carries
// (Node.Requests).
const MaxSelfRequests = 20

// AccessRequestCreate asks for Port of the device Device over Proto
// ("tcp" when empty) for Duration ("2h"), with a Reason ("INC-1234").
type AccessRequestCreate struct {
	Device   string `json:"device"`
	Port     uint16 `json:"port"`
	Proto    string `json:"proto,omitempty"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// AccessRequest is a request as the coordinator holds it.
type AccessRequest struct {
	ID int64 `json:"id"`
	// Requester is the person's email; Device the device's name.
	Requester string `json:"requester"`
	Device    string `json:"device"`
	Proto     string `json:"proto"`
	Port      uint16 `json:"port"`
	// DurationMillis is how long the access lasts once approved.
	DurationMillis int64  `json:"duration_ms"`
	Reason         string `json:"reason"`
	// Status is "pending", "approved", "denied" or "revoked".
	Status string `json:"status"`
	// Approvers names the group(s) whose member may decide it.
	Approvers []string  `json:"approvers,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Expires is when an approved request's access ends (or ended).
	Expires time.Time `json:"expires,omitzero"`
}
