package node

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// NotGrantedError is DialPeer's answer, given at once and without sending
// anything, when the node's map says the policy grants it no TCP flow to
// that port of the peer. It wraps ErrNotGranted.
type NotGrantedError struct {
	// Peer is the peer's name; Port the port asked for.
	Peer string
	Port uint16
	// Grants are what the node may reach on the peer; may be empty.
	Grants []filter.PortGrant
	// StepUp, when not zero, is the peer's step-up MFA window, which the
	// person's last login with a second factor is older than (or they
	// showed none): a fresh one may open the port.
	StepUp time.Duration
}

// Error says which TCP ports the node may reach instead: "not granted by
// the policy (you may reach cam1 on tcp 80, 443, 554)", or that reaching
// the peer needs a fresh login with a second factor.
func (e *NotGrantedError) Error() string {
	if e.StepUp > 0 {
		return fmt.Sprintf("not granted by the policy: %s needs a fresh login with a second factor (within the last %v): run ward up",
			e.Peer, e.StepUp)
	}
	for _, g := range e.Grants {
		if g.Proto == filter.ProtoTCP {
			return fmt.Sprintf("not granted by the policy (you may reach %s on %s)", e.Peer, g)
		}
	}
	if len(e.Grants) > 0 {
		return fmt.Sprintf("not granted by the policy (you may reach %s on %s, no tcp port)", e.Peer, filter.FormatGrants(e.Grants))
	}
	return fmt.Sprintf("not granted by the policy (you may reach nothing on %s)", e.Peer)
}

// Unwrap returns ErrNotGranted.
func (e *NotGrantedError) Unwrap() error { return ErrNotGranted }

// RefusedError is DialPeer's answer when the peer answered with a reset:
// the flow reached it, but nothing serves that port there (the device does
// not expose it, or nothing listens behind it). It wraps ErrRefused and
// the dial's own error (syscall.ECONNREFUSED).
type RefusedError struct {
	// Peer is the peer's name; Port the port dialed.
	Peer string
	Port uint16
	// Granted tells that the node's map grants the port (false: the map
	// says nothing of grants, from a coordinator before protocol 5).
	Granted bool
	// Err is the dial's error.
	Err error
}

// Error says who refused and why that is: "cam1 refused the connection on
// port 8080 (granted, but nothing listens there)".
func (e *RefusedError) Error() string {
	why := "nothing listens there"
	if e.Granted {
		why = "granted, but nothing listens there"
	}
	return fmt.Sprintf("%s refused the connection on port %d (%s)", e.Peer, e.Port, why)
}

// Unwrap returns ErrRefused and the dial's error.
func (e *RefusedError) Unwrap() []error { return []error{ErrRefused, e.Err} }

// checkGrant returns a *NotGrantedError when p's grants, as the map gives
// them, leave out TCP port; nil when they include it or the map has none
// (an older coordinator: the peer's filter alone decides). It names the
// step-up when p's class requires a second factor more recent than the
// person's last one (self's MFAAt) at now.
func checkGrant(self, p wire.Node, port uint16, now time.Time) error {
	if p.Grants == nil || filter.Allows(p.Grants, filter.ProtoTCP, port) {
		return nil
	}
	e := &NotGrantedError{Peer: p.Name, Port: port, Grants: p.Grants}
	if w := time.Duration(p.MFAWithinMillis) * time.Millisecond; w > 0 && self.User != "" && (self.MFAAt.IsZero() || now.Sub(self.MFAAt) >= w) {
		e.StepUp = w
	}
	return e
}

// dialError turns a refused dial to p's port into a *RefusedError; other
// errors pass unchanged.
func dialError(p wire.Node, port uint16, err error) error {
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	return &RefusedError{Peer: p.Name, Port: port, Granted: p.Grants != nil, Err: err}
}
