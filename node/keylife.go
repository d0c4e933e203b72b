package node

import (
	"context"
	"errors"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// ErrEnded means a session ended by itself: its key's life is over (a
// person's key expired, or the coordinator moved the node to another key).
// Session.Run returns it as an *EndError that says why.
var ErrEnded = errors.New("session ended")

// EndError is how Session.Run reports that the key's life ended the
// session; errors.Is(err, ErrEnded) holds for it.
type EndError struct {
	// Reason says why, for the person ("the session's key expired at
	// ...").
	Reason string
	// OwnerDisabled tells that the key ended because an admin disabled
	// the person who owns the node.
	OwnerDisabled bool
}

// Error returns the reason.
func (e *EndError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrEnded) true.
func (e *EndError) Is(target error) bool { return target == ErrEnded }

// keyLife is the seam between a Session and how its WireGuard key lives:
//
//   - a device's key (deviceKeys) is machine-signed and rotating: the
//     device registers with a pre-auth key, rotates its key on schedule,
//     and after an admin's revocation waits for approval or registers
//     again; its session never ends by itself.
//   - a person's key (personKeys) came from an interactive login and is
//     bound to the SSO session: it never rotates, and the session ends
//     when the key expires (with or without the coordinator) or the
//     coordinator moves the node to another key (a newer login). A new
//     key takes a new login, and a new Session.
//
// The Session calls NodeID, OwnsMap, Join and then Run from Run's goroutine, in
// that order; SelfChanged from the map stream's goroutine; Expiry and
// Describe from any goroutine.
type keyLife interface {
	// NodeID is the node this machine is at the coordinator, 0 while it
	// is not registered. The Session restores, and resumes the map stream
	// from, a saved map of this node only.
	NodeID() wire.NodeID
	// OwnsMap reports whether a saved map of this node, describing it as
	// self, is this key life's to restore: a device's, whichever of its
	// keys it names; a person's, only when it names the login's key (the
	// map an earlier login saved belongs to another session).
	OwnsMap(self wire.Node) bool
	// Join makes this machine a node with the Engine's key before the map
	// stream opens, retrying until it can or ctx ends: a device registers
	// when the coordinator does not know it. An error (a refusal) ends
	// Run with it.
	Join(ctx context.Context) error
	// SelfChanged is called after each map message that describes this
	// node was applied, with that description. It must not block.
	SelfChanged(self wire.Node)
	// Run follows the key's life until ctx is done, and returns nil, or
	// until the life ends, and returns why; the Session then ends.
	Run(ctx context.Context) *EndError
	// Expiry is when the key in use expires, on the node's clock; zero
	// when unknown.
	Expiry() time.Time
	// Describe adds what the key's life has to say to the local API's
	// status (a refused rotation).
	Describe(st *localapi.Status)
}
