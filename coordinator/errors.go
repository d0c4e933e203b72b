package coordinator

import (
	"errors"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/fault"
	"github.com/wardnet/ward/wire"
)

// The coordinator's errors carry a fault.Kind from where they are made;
// the two HTTP edges (the control API here, statusOf, and the admin UI and
// API in package web) turn the kind into a status, each in one place.

// Request errors.
var (
	errBadRequest = fault.New(fault.Invalid, "bad request")
	errTooLarge   = fault.New(fault.TooLarge, "request too large")
	errForbidden  = fault.New(fault.Forbidden, "forbidden")
	errNotNode    = fault.New(fault.Forbidden, "machine is not a registered node")
	// errNotCovered refuses an admin's action on a person who holds a role
	// the admin's does not cover (cover.go).
	errNotCovered = fault.New(fault.Forbidden, "forbidden")
	// errTooManyStreams refuses a map stream beyond maxStreamsPerNode.
	errTooManyStreams = fault.New(fault.RateLimited, "too many open map streams for this node")
	// errRateLimited refuses a call made too often; a retryAfterError
	// carries when to come back.
	errRateLimited = fault.New(fault.RateLimited, "too many requests")
)

// Authentication errors.
var (
	errNoCredentials = fault.New(fault.Unauthenticated, "missing bearer token")
	errBadToken      = fault.New(fault.Unauthenticated, "invalid or expired token")
	errBadChallenge  = fault.New(fault.Unauthenticated, "unknown, used or expired challenge")
	errBadSignature  = fault.New(fault.Unauthenticated, "signature does not match the machine key")
)

// foreignKinds are the kinds of the errors of the packages the coordinator
// builds on, as its callers must see them: the store reports facts (no
// such key, a revoked key), the coordinator decides what they mean to the
// caller (an unknown pre-auth key is a refusal, not a missing page). It is
// the one place where those errors become domain errors.
var foreignKinds = []struct {
	err  error
	kind fault.Kind
}{
	{store.ErrNotFound, fault.NotFound},
	{acl.ErrUnknownNode, fault.NotFound},
	{store.ErrInvalid, fault.Invalid},
	{store.ErrConflict, fault.Conflict},
	{store.ErrMachineExists, fault.Conflict},
	{store.ErrDuplicate, fault.Conflict},
	{store.ErrEmailBound, fault.Conflict},
	{store.ErrNameTaken, fault.Conflict},
	{store.ErrAuthKeyNotFound, fault.Forbidden},
	{store.ErrAuthKeyExpired, fault.Forbidden},
	{store.ErrAuthKeyRevoked, fault.Forbidden},
	{store.ErrAuthKeyUsed, fault.Forbidden},
	{store.ErrAuthKeyBeforeRevocation, fault.Forbidden},
	{store.ErrAPIKeyNotFound, fault.Forbidden},
	{store.ErrAPIKeyExpired, fault.Forbidden},
	{store.ErrAPIKeyRevoked, fault.Forbidden},
	{store.ErrRotationRefused, fault.Forbidden},
	{store.ErrUserDisabled, fault.Forbidden},
	{store.ErrKeyCreatorDisabled, fault.Forbidden},
	{wire.ErrProtocolTooOld, fault.UpgradeRequired},
}

// kindOf returns the kind of err: a storage fault is Unavailable; else the
// greatest kind of the coordinator's own errors and of foreignKinds in its
// chain; else Invalid for a policy's problems; else Internal.
func kindOf(err error) fault.Kind {
	if store.Unavailable(err) {
		return fault.Unavailable
	}
	k := fault.KindOf(err)
	for _, f := range foreignKinds {
		if f.kind > k && errors.Is(err, f.err) {
			k = f.kind
		}
	}
	if k == fault.Internal && acl.Problems(err) != nil {
		k = fault.Invalid
	}
	return k
}

// errUnavailableText is what a caller is told of a storage fault, whose
// details stay in the logs.
const errUnavailableText = "storage unavailable; try again later"

// domainErr marks err with its kind (kindOf) for the callers outside the
// package (the admin front ends), keeping err in the chain for errors.Is
// and the logs. A storage fault reads as errUnavailableText, so that no
// caller sees the driver's words.
func domainErr(err error) error {
	switch k := kindOf(err); {
	case err == nil:
		return nil
	case k == fault.Unavailable:
		return &fault.Error{Kind: k, Msg: errUnavailableText, Err: err}
	case k != fault.KindOf(err):
		return fault.Wrap(k, err)
	}
	return err
}
