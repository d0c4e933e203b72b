package store

import (
	"context"
	"time"
)

// PolicyID identifies a saved policy version. IDs increase with each save.
type PolicyID int64

// AnyParent, as NewPolicy.ParentID, saves a policy without checking which
// version is the latest.
const AnyParent PolicyID = -1

// Policy is one saved version of the ACL policy. Versions are append-only.
type Policy struct {
	// ID is assigned by the store.
	ID PolicyID
	// ParentID is the version that was latest when this one was saved, or 0
	// for the first.
	ParentID PolicyID
	// Text is the policy file as the admin wrote it (HuJSON).
	Text string
	// Author names who saved it, as an audit actor.
	Author string
	// Comment is the author's note; may be empty.
	Comment string
	// CreatedAt is when it was saved.
	CreatedAt time.Time
}

// NewPolicy is a policy version to save.
type NewPolicy struct {
	// Text is the policy file; the store does not parse it.
	Text string
	// Author names who saves it, as an audit actor.
	Author string
	// Comment is the author's note; may be empty.
	Comment string
	// ParentID is the latest version the author started from (0 when there
	// was none), or AnyParent to skip the check.
	ParentID PolicyID
	// CreatedAt is zero for "now".
	CreatedAt time.Time
}

// Policies stores policy versions; the policy editor and the coordinator's
// startup call it.
type Policies interface {
	// SavePolicy appends a version. If p.ParentID is not AnyParent and is
	// not the latest version's ID (0 when none), it returns ErrConflict and
	// saves nothing: another admin saved in between.
	SavePolicy(ctx context.Context, p NewPolicy) (Policy, error)
	// LatestPolicy returns the newest version (ErrNotFound when none).
	LatestPolicy(ctx context.Context) (Policy, error)
	// Policy returns the version with the given ID (ErrNotFound).
	Policy(ctx context.Context, id PolicyID) (Policy, error)
	// ListPolicies returns every version, newest first.
	ListPolicies(ctx context.Context) ([]Policy, error)
}

// AlertRuleVersions stores the alert rules file's versions, as Policies
// stores the policy's: append-only, with the same parent check (the
// types are shared; the text is an alert rules file).
type AlertRuleVersions interface {
	// SaveAlertRules appends a version (ErrConflict for a stale parent).
	SaveAlertRules(ctx context.Context, p NewPolicy) (Policy, error)
	// LatestAlertRules returns the newest version (ErrNotFound when none).
	LatestAlertRules(ctx context.Context) (Policy, error)
	// AlertRulesVersion returns version id (ErrNotFound).
	AlertRulesVersion(ctx context.Context, id PolicyID) (Policy, error)
	// ListAlertRules returns every version, newest first.
	ListAlertRules(ctx context.Context) ([]Policy, error)
}
