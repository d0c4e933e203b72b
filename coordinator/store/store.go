package store

import "context"

// MapVersions hands out map version numbers, so that every change to the
// network map gets a number greater than all before it, even across
// restarts.
type MapVersions interface {
	// NextMapVersion increments the counter and returns the new value; the
	// first call returns 1.
	NextMapVersion(ctx context.Context) (uint64, error)
	// MapVersion returns the counter's value without changing it (0 before
	// the first NextMapVersion).
	MapVersion(ctx context.Context) (uint64, error)
}

// Store is everything the coordinator persists. Implementations must give
// the behaviour documented on each embedded interface, and must be safe for
// concurrent use.
type Store interface {
	Nodes
	Registration
	AuthKeys
	APIKeys
	Relays
	Releases
	AccessRequests
	Alerts
	AlertRuleVersions
	Rollouts
	Users
	Policies
	Audit
	Flows
	FlowStats
	Cursors
	MapVersions
	RefreshTokens
	AdminSessions
	PendingLogins
	StreamHolds
	// Close releases the store; it is idempotent.
	Close() error
}
