package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// lookupUser finds a user by numeric id or email. An email that several
// users have (a database from before emails were bound to one user) is
// refused as ambiguous, with their ids, so that an action never silently
// reaches only one of them.
func (s *fleet) lookupUser(ctx context.Context, ref string) (store.User, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.st.User(ctx, store.UserID(id))
	}
	users, err := s.st.UsersByEmail(ctx, ref)
	switch {
	case err != nil:
		return store.User{}, err
	case len(users) == 0:
		return store.User{}, fmt.Errorf("user %q: %w", ref, store.ErrNotFound)
	case len(users) > 1:
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = strconv.FormatInt(int64(u.ID), 10)
		}
		return store.User{}, fmt.Errorf("user %q: %w: users %s have this email; give the numeric id (and rebind the email to one of them)",
			ref, store.ErrConflict, strings.Join(ids, ", "))
	}
	return users[0], nil
}

func (s *fleet) adminUser(ctx context.Context, u store.User) (wire.AdminUser, error) {
	au := wire.AdminUser{ID: int64(u.ID), Email: u.Email, Name: u.DisplayName, Issuer: u.Issuer, Subject: u.Subject,
		Groups: u.Groups, PolicyGroups: s.nm.policyGroupsOf(u.Email), Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLogin: u.LastLogin, Nodes: []string{}}
	for _, n := range s.userNodes(u.ID) {
		au.Nodes = append(au.Nodes, n.Name)
	}
	return au, nil
}

// userNodes returns the nodes owned by user id.
func (s *fleet) userNodes(id store.UserID) []store.Node {
	s.nm.mu.Lock()
	defer s.nm.mu.Unlock()
	var out []store.Node
	for _, n := range s.nm.nodes {
		if n.UserID == id && len(n.Tags) == 0 {
			out = append(out, n)
		}
	}
	return out
}

// SetUserDisabled disables (or re-enables) a user on by's authority,
// refused when by's role does not cover the user's (see cover.go).
// Disabling expires every key of the user's nodes at once, so every peer
// drops them; the user can only come back by logging in again once
// re-enabled.
func (s *fleet) SetUserDisabled(ctx context.Context, id store.UserID, disabled bool, by admin.Principal) error {
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	u, err := s.st.User(ctx, id)
	if err != nil {
		return err
	}
	if err := s.covers(by.Role, u); err != nil {
		return s.refusedIfNotCovered(ctx, err, by, action, "user:"+u.Email)
	}
	if err := s.st.SetUserDisabled(ctx, id, disabled); err != nil {
		return fmt.Errorf("set user %d disabled=%v: %w", id, disabled, err)
	}
	if u, err = s.st.User(ctx, id); err != nil {
		return err
	}
	// Before the keys are cut, so that the user's nodes learn why.
	if err := s.refreshUsers(ctx); err != nil {
		return err
	}
	if disabled {
		s.endAdminSessions(u.ID)
		if err := s.cutUserKeys(ctx, u, by.Actor, "user disabled"); err != nil {
			return err
		}
	}
	s.audit(ctx, by.Actor, action, "user:"+u.Email, "", nil)
	return nil
}

// cutUserKeys expires every key of u's nodes now, so every peer drops
// them, and audits each as node.key_revoked for reason. It finds the
// nodes in the store, not the netmap, so that a node a login registered
// but has not yet put in the netmap is cut too.
func (s *core) cutUserKeys(ctx context.Context, u store.User, actor, reason string) error {
	now := time.Now().UTC()
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes of %s: %w", u.Email, err)
	}
	for _, n := range nodes {
		if n.UserID != u.ID || len(n.Tags) > 0 {
			continue
		}
		err := s.st.SetKeyExpiry(ctx, n.ID, now)
		if err == nil {
			_, err = s.reloadNode(ctx, n.ID)
		}
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile: nothing left to cut
		}
		if err != nil {
			return fmt.Errorf("expire key of %s: %w", n.Name, err)
		}
		s.audit(ctx, actor, "node.key_revoked", "node:"+n.Name, "", map[string]any{"user": u.Email, "reason": reason})
	}
	return nil
}
