package store

import (
	"context"
	"net/netip"
	"time"
)

// NodeID identifies a node. IDs are never reused, so an old audit entry
// naming a node cannot be mistaken for a later node.
type NodeID int64

// Node is a registered machine: a device joined with a pre-auth key, or a
// person's computer joined through an interactive login.
type Node struct {
	// ID is assigned by the store at registration.
	ID NodeID
	// Name is unique among nodes. At registration the store appends "-2",
	// "-3", … to a requested name that is taken.
	Name string
	// Hostname, OS and Version are what the node reports about itself; any
	// may be empty.
	Hostname string
	OS       string
	Version  string
	// MachineKey identifies the machine; it is unique and never changes.
	MachineKey MachinePublic
	// WGKey is the node's current WireGuard public key.
	WGKey WGPublic
	// PrevWGKey is the key WGKey replaced; the node keeps using it until
	// PrevWGKeyUntil, its switch time, and so do its peers
	// (wire.Node.KeySwitchAt), so that no flow stalls during rotation.
	// Zero (and a zero PrevWGKeyUntil) when there was no rotation;
	// PrevWGKeyUntil is zero, too, when the replaced key had lapsed.
	PrevWGKey      WGPublic
	PrevWGKeyUntil time.Time
	// KeyExpiry is when WGKey stops being valid; zero means it never expires.
	KeyExpiry time.Time
	// KeyRevokedAt is when an admin revoked the node's key (expired it on
	// purpose); zero when not revoked. A revoked node may not rotate its key
	// until an admin approves it again (ApproveNode) or it registers with a
	// new pre-auth key.
	KeyRevokedAt time.Time
	// IPv4 and IPv6 are the node's overlay addresses, fixed for its life.
	IPv4 netip.Addr
	IPv6 netip.Addr
	// UserID is the owning user, or 0 when the node is owned by Tags.
	UserID UserID
	// Tags own the node when UserID is 0 (for example "tag:camera"); empty
	// for a user's node. Kept sorted and without duplicates.
	Tags []string
	// Ephemeral nodes are removed by the coordinator once they go offline.
	Ephemeral bool
	// AuthKeyID is the pre-auth key the node registered with, or 0.
	AuthKeyID AuthKeyID
	// ExposedPorts are the local ports the node offers to the overlay,
	// sorted and without duplicates; may be empty.
	ExposedPorts []uint16
	// Endpoints are the node's candidate UDP endpoints in the order the node
	// prefers them; may be empty.
	Endpoints []netip.AddrPort
	// CreatedAt is when the node registered.
	CreatedAt time.Time
	// LastSeen is when the coordinator last heard from the node; zero if
	// never since registration.
	LastSeen time.Time
	// Online reports whether the node holds an open map stream.
	Online bool
	// RiskClass is the node's risk class ("critical"), set by its pre-auth
	// key or an admin; empty when unclassified (the policy's default).
	RiskClass string
	// AdvertisedRoutes are the subnet routes the node offers to route
	// (its --advertise-routes, as last reported), masked, sorted and
	// without duplicates; may be empty.
	AdvertisedRoutes []netip.Prefix
	// ApprovedRoutes are the routes an admin approved for the node, in
	// the same form; a route carries traffic only when it is advertised
	// too (or the policy's autoApprovers approve it).
	ApprovedRoutes []netip.Prefix
	// HomeRelay names the relay the node listens on, as it last reported
	// it (wire.Report.HomeRelay); empty until it reports one. Kept in the
	// store so that every coordinator of a database tells the node's
	// peers, wherever their control connections are.
	HomeRelay string
}

// NewNode is what a registering node supplies. Ownership, tags and the
// ephemeral flag come from the pre-auth key or the user, not from here.
type NewNode struct {
	// Name is the requested name; required. A taken name gets a suffix.
	Name string
	// Hostname, OS and Version may be empty.
	Hostname string
	OS       string
	Version  string
	// MachineKey and WGKey are required (non-zero).
	MachineKey MachinePublic
	WGKey      WGPublic
	// KeyExpiry is when WGKey expires; zero means never.
	KeyExpiry time.Time
	// Endpoints (in order of preference) and ExposedPorts may be empty.
	Endpoints    []netip.AddrPort
	ExposedPorts []uint16
}

// HostInfo is what a node reports about itself.
type HostInfo struct {
	// Hostname, OS and Version may be empty.
	Hostname string
	OS       string
	Version  string
}

// KeyRotation replaces a node's WireGuard key.
type KeyRotation struct {
	// Key is the new WireGuard public key; required and different from the
	// current one.
	Key WGPublic
	// OverlapUntil is until when the node and its peers keep using the
	// replaced key: the node's switch time (zero: peers take Key at once).
	OverlapUntil time.Time
	// Expiry is the new key's expiry; zero means never.
	Expiry time.Time
	// Rule is what the node must be for the rotation to happen, checked in
	// the write's transaction (ErrRotationRefused, ErrUserDisabled).
	Rule RotationRule
}

// RotationRule says which nodes a KeyRotation may re-key.
type RotationRule int

const (
	// RotateAny re-keys any node.
	RotateAny RotationRule = iota
	// RotateDevice re-keys only a device (a node owned by tags) whose key
	// no admin revoked: a rotation by proof of the machine key alone.
	RotateDevice
	// RotateLogin re-keys only a node owned by an enabled user: a new
	// login through the identity provider.
	RotateLogin
)

// Nodes reads and changes registered nodes. The coordinator's registry, map
// computation and admin API call it. Every method may block on the database;
// each write is durable when it returns. Methods naming a node that does not
// exist return an error matching ErrNotFound.
type Nodes interface {
	// Node returns the node with the given ID.
	Node(ctx context.Context, id NodeID) (Node, error)
	// NodeByMachineKey returns the node registered with machine key k.
	NodeByMachineKey(ctx context.Context, k MachinePublic) (Node, error)
	// NodeByName returns the node with the given name.
	NodeByName(ctx context.Context, name string) (Node, error)
	// ListNodes returns every node, ordered by ID.
	ListNodes(ctx context.Context) ([]Node, error)
	// NodesAfter returns at most limit nodes (1 or more) whose ID is above
	// after, ordered by ID: one page of the fleet, read by the primary
	// key's index, so its cost is the page's and not the fleet's. As a
	// cursor it is stable while nodes join and leave: a node present
	// throughout is in exactly one page.
	NodesAfter(ctx context.Context, after NodeID, limit int) ([]Node, error)

	// RenameNode sets a node's name; ErrNameTaken if another node has it.
	RenameNode(ctx context.Context, id NodeID, name string) error
	// SetNodeTags makes the node owned by tags (non-empty), dropping any
	// owning user.
	SetNodeTags(ctx context.Context, id NodeID, tags []string) error
	// SetNodeRiskClass sets the node's risk class (empty: unclassified);
	// ErrInvalid for a malformed class name.
	SetNodeRiskClass(ctx context.Context, id NodeID, class string) error
	// SetHostInfo records what the node reports about itself.
	SetHostInfo(ctx context.Context, id NodeID, h HostInfo) error
	// RotateWGKey installs a new WireGuard key and keeps the current one as
	// PrevWGKey until r.OverlapUntil. Addresses do not change.
	RotateWGKey(ctx context.Context, id NodeID, r KeyRotation) error
	// SetKeyExpiry sets when the current WireGuard key expires (zero: never).
	SetKeyExpiry(ctx context.Context, id NodeID, expiry time.Time) error
	// RevokeNodeKey expires the node's current key at at and marks the node
	// revoked (KeyRevokedAt = at) in one write.
	RevokeNodeKey(ctx context.Context, id NodeID, at time.Time) error
	// ApproveNode clears the node's revocation so that it may rotate to a
	// new key; its expired key stays expired.
	ApproveNode(ctx context.Context, id NodeID) error
	// SetEndpoints replaces the node's candidate endpoints.
	SetEndpoints(ctx context.Context, id NodeID, eps []netip.AddrPort) error
	// SetHomeRelay records the relay the node listens on.
	SetHomeRelay(ctx context.Context, id NodeID, relay string) error
	// SetExposedPorts replaces the ports the node exposes (none may be 0).
	SetExposedPorts(ctx context.Context, id NodeID, ports []uint16) error
	// SetAdvertisedRoutes replaces the subnet routes the node advertises
	// (at most MaxRoutes valid prefixes; stored masked and sorted).
	SetAdvertisedRoutes(ctx context.Context, id NodeID, routes []netip.Prefix) error
	// SetApprovedRoutes replaces the node's admin-approved routes, as
	// SetAdvertisedRoutes.
	SetApprovedRoutes(ctx context.Context, id NodeID, routes []netip.Prefix) error
	// SetPresence records when the node was last seen and whether it is
	// online.
	SetPresence(ctx context.Context, id NodeID, lastSeen time.Time, online bool) error
	// SetPresences records many nodes' presence in one write (the
	// coordinator batches the map streams' opens and closes); nodes that
	// no longer exist are skipped.
	SetPresences(ctx context.Context, ps []Presence) error
	// DeleteNode removes the node and returns it as it was. Its addresses
	// are quarantined: not handed out again before reusableAfter, which the
	// caller sets to when every peer has dropped the node's key (for example
	// now.Add(DefaultQuarantine)); a zero time frees them at once.
	DeleteNode(ctx context.Context, id NodeID, reusableAfter time.Time) (Node, error)
}

// Presence is one node's presence as of LastSeen.
type Presence struct {
	ID       NodeID
	LastSeen time.Time
	Online   bool
}

// DefaultQuarantine is a safe quarantine for a removed node's addresses: the
// longest default key lifetime (24 h) after which no peer still holds the
// node's key.
const DefaultQuarantine = 24 * time.Hour

// Registration creates nodes. Each call is one transaction: the credential is
// checked and consumed, addresses are allocated and the node is inserted, or
// nothing changes. A machine key that is already registered yields
// ErrMachineExists and consumes nothing, except that RegisterWithAuthKey
// re-keys a node whose key an admin revoked (see there).
type Registration interface {
	// RegisterWithAuthKey registers n with the pre-auth key whose hash is
	// keyHash, as of now. The key must exist, be unrevoked and unexpired,
	// and, if single-use, unused (ErrAuthKeyNotFound, ErrAuthKeyRevoked,
	// ErrAuthKeyExpired, ErrAuthKeyUsed; checked in that order and before
	// the machine key). Its use count goes up by one. The node takes the
	// key's tags (or user) and ephemeral flag. It returns the new node and
	// the key as updated. When n.MachineKey belongs to a node whose key an
	// admin revoked, that node is re-keyed in place instead: same ID, name
	// and addresses, the new key's owner, n's WireGuard key and expiry, the
	// revocation cleared.
	RegisterWithAuthKey(ctx context.Context, keyHash SecretHash, now time.Time, n NewNode) (Node, AuthKey, error)
	// RegisterWithUser registers n as owned by the user, after an
	// interactive login. The user must exist (ErrNotFound) and not be
	// disabled (ErrUserDisabled).
	RegisterWithUser(ctx context.Context, user UserID, now time.Time, n NewNode) (Node, error)
}
