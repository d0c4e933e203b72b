package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
)

// An API key or a pre-auth key acts on the authority of the person who
// made it: the admin logged in to the UI, or, for a key made with an API
// key, the person behind that key (store.APIKey.CreatorUserID). The
// bootstrap key and the keys made with it belong to the system. A key
// whose person is disabled or gone does nothing: an API key is refused
// (403), a pre-auth key registers no device (403). An API key acts with
// the role its person's groups give them now (the same mapping as a UI
// login, from the groups of their last login), so a person who lost a
// role loses it through their keys too.
//
// So an API key acts with the lesser of its person's role now and their
// role when they made it, without storing the latter: only owners may
// make API keys (Backend.CreateAPIKey checks it, not only the front end),
// so that role was owner. What a key's role follows is its person's user
// record, whose email an admin could once give to a subject of their
// choosing (a rebind); an admin can no longer rebind an email or a subject
// whose role theirs does not cover (cover.go), so no admin makes their own
// key act with an owner's email.

// creatorOf returns the user on whose authority p acts: its admin.Principal
// User (a UI session's user, or the person behind an API key); zero for
// the system.
func creatorOf(p admin.Principal) (store.UserID, error) {
	if p.User == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(p.User, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: principal %s names no user (%q)", errForbidden, p.Actor, p.User)
	}
	return store.UserID(id), nil
}

// apiKeyPrincipal returns the principal API key k acts as: the system's
// keys are owners; a person's key has their current role and is refused
// while they are disabled, gone or without an admin role. Its scopes
// narrow the role further (admin.ScopesAllow).
func (s *fleet) apiKeyPrincipal(ctx context.Context, k store.APIKey) (admin.Principal, error) {
	p := admin.Principal{Actor: "apikey:" + k.Prefix, Role: admin.RoleOwner, Scopes: k.Scopes}
	if k.CreatorUserID == 0 {
		return p, nil
	}
	u, err := s.st.User(ctx, k.CreatorUserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return admin.Principal{}, fmt.Errorf("%w: api key %s: %w: user %d no longer exists",
			errForbidden, k.Prefix, store.ErrKeyCreatorDisabled, k.CreatorUserID)
	case err != nil:
		return admin.Principal{}, fmt.Errorf("api key %s: creator: %w", k.Prefix, err)
	case u.Disabled:
		return admin.Principal{}, fmt.Errorf("%w: api key %s: %w: %s is disabled",
			errForbidden, k.Prefix, store.ErrKeyCreatorDisabled, u.Email)
	}
	p.User = strconv.FormatInt(int64(u.ID), 10)
	if p.Role = s.roleOf(u); p.Role == admin.RoleNone {
		return admin.Principal{}, fmt.Errorf("%w: api key %s: its creator %s has no admin role now",
			errForbidden, k.Prefix, u.Email)
	}
	return p, nil
}

// roleOf resolves u's admin role now: from their email, their IdP groups
// and the running policy's groups.
func (c *core) roleOf(u store.User) admin.Role {
	return admin.RoleOf(admin.Member{Email: u.Email, IdPGroups: u.Groups, PolicyGroups: c.nm.policyGroupsOf(u.Email)}, c.cfg.AdminRoles)
}
