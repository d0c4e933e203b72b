package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
)

// An admin acts on people only within their own role: "everything but
// managing owners" for admins, less for it-admins. An action on a user
// (disable, enable, rebind an email, move to another issuer, or expire,
// approve, retag or remove a node they own) whose target holds, now, a
// role the actor's role does not cover (admin.Role.Covers) is refused with
// errNotCovered (403) and audited as the action with "_refused" appended.
// Otherwise an admin could disable an owner, or give an owner's email to
// their own subject and, since a person's API keys take the role of the
// email their user holds, act as owner.
//
// A rebind is checked on every user it changes, as they are and as they
// will be (the new holder of the email), and a move of users to another
// issuer on each user moved, both inside the store's write
// (store.UserCheck), so that a user who gets the email or the issuer in
// the meantime is checked too. A disable or a node action checks its one
// user just before its write: a role that user gains meanwhile is as if
// given just after the action.

// covers returns nil when role covers the role each of users holds now
// (core.roleOf), else errNotCovered naming the first it does not.
func (s *fleet) covers(role admin.Role, users ...store.User) error {
	for _, u := range users {
		if r := s.roleOf(u); !role.Covers(r) {
			return fmt.Errorf("%w: %s holds the admin role %s, which the role %s does not cover; an owner must do this",
				errNotCovered, userName(u), r, role.Name())
		}
	}
	return nil
}

// coverCheck is covers as a store.UserCheck.
func (s *fleet) coverCheck(role admin.Role) store.UserCheck {
	return func(users []store.User) error { return s.covers(role, users...) }
}

// refusedIfNotCovered audits err as action refused, when it is a refusal
// of covers, and returns err.
func (s *fleet) refusedIfNotCovered(ctx context.Context, err error, by admin.Principal, action, target string) error {
	if errors.Is(err, errNotCovered) {
		s.audit(ctx, by.Actor, action+"_refused", target, "", map[string]any{"role": by.Role.Name(), "error": err.Error()})
	}
	return err
}

// mayActOnNode refuses, audited as action refused, an action by by on
// node n when n is a person's and by's role does not cover theirs.
// Devices (tagged nodes) belong to no one.
func (s *fleet) mayActOnNode(ctx context.Context, by admin.Principal, action string, n store.Node) error {
	if len(n.Tags) > 0 || n.UserID == 0 {
		return nil
	}
	u, err := s.st.User(ctx, n.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // no one to protect
	}
	if err == nil {
		err = s.covers(by.Role, u)
	}
	return s.refusedIfNotCovered(ctx, err, by, action, "node:"+n.Name)
}

// userName names u in messages: their email, else their subject.
func userName(u store.User) string {
	if u.Email != "" {
		return u.Email
	}
	return fmt.Sprintf("user %d (subject %q)", u.ID, u.Subject)
}
