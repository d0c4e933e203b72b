package webtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// userIndexLocked finds a user by numeric id or email.
func (b *Backend) userIndexLocked(ref string) (int, error) {
	id, idErr := strconv.ParseInt(ref, 10, 64)
	i := slices.IndexFunc(b.users, func(u wire.AdminUser) bool { return u.Email == ref || (idErr == nil && u.ID == id) })
	if i < 0 {
		return 0, fmt.Errorf("user %q: %w", ref, web.ErrNotFound)
	}
	return i, nil
}

// userLocked returns user i with the names of their nodes and the
// running policy's groups that list them, as the coordinator fills them.
func (b *Backend) userLocked(i int) wire.AdminUser {
	u := b.users[i]
	if rs, err := b.rulesetLocked(); err == nil { // SetPolicy keeps only policies that check
		u.PolicyGroups = rs.Policy().GroupsOf(u.Email)
	}
	u.Nodes = []string{}
	for _, n := range b.nodes {
		if n.User == u.Email && len(n.Tags) == 0 {
			u.Nodes = append(u.Nodes, n.Name)
		}
	}
	return u
}

// ListUsers implements web.Backend.
func (b *Backend) ListUsers(context.Context) ([]wire.AdminUser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]wire.AdminUser, len(b.users))
	for i := range b.users {
		out[i] = b.userLocked(i)
	}
	return out, nil
}

// User implements web.Backend.
func (b *Backend) User(_ context.Context, ref string) (wire.AdminUser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.userIndexLocked(ref)
	if err != nil {
		return wire.AdminUser{}, err
	}
	return b.userLocked(i), nil
}

// SetUserDisabled implements web.Backend; disabling expires the user's
// nodes' keys.
func (b *Backend) SetUserDisabled(_ context.Context, ref string, disabled bool, by admin.Principal) (wire.AdminUser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.userIndexLocked(ref)
	if err != nil {
		return wire.AdminUser{}, err
	}
	u := &b.users[i]
	u.Disabled = disabled
	action := "user.enable"
	if disabled {
		action = "user.disable"
		for j := range b.nodes {
			if b.nodes[j].User == u.Email && len(b.nodes[j].Tags) == 0 {
				b.nodes[j].KeyExpiry, b.nodes[j].Expired = b.now().UTC(), true
			}
		}
	}
	b.changedLocked(by.Actor, action, "user:"+u.Email, nil)
	return b.userLocked(i), nil
}

// RebindUser implements web.Backend: email moves to a user of req's
// subject (created if needed); its other holders lose it and are disabled.
func (b *Backend) RebindUser(_ context.Context, email string, req wire.RebindUserRequest, by admin.Principal) (wire.AdminUser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	to := slices.IndexFunc(b.users, func(u wire.AdminUser) bool {
		return u.Subject == req.Subject && (req.Issuer == "" || u.Issuer == req.Issuer)
	})
	for i := range b.users {
		if i != to && b.users[i].Email == email {
			b.users[i].Email, b.users[i].Disabled = "", true
		}
	}
	if to < 0 {
		b.users = append(b.users, wire.AdminUser{ID: int64(len(b.users) + 1), Issuer: req.Issuer, Subject: req.Subject,
			Groups: []string{}, CreatedAt: b.now().UTC()})
		to = len(b.users) - 1
	}
	b.users[to].Email = email
	b.changedLocked(by.Actor, "user.rebind", "user:"+email, map[string]any{"subject": req.Subject})
	return b.userLocked(to), nil
}

// MigrateIssuer implements web.Backend: the users of req.From move to
// req.To unless one of its subjects is taken there.
func (b *Backend) MigrateIssuer(_ context.Context, req wire.MigrateIssuerRequest, by admin.Principal) (wire.MigrateIssuerResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res := wire.MigrateIssuerResult{DryRun: req.DryRun, Users: []wire.AdminUser{}}
	var moving []int
	for i, u := range b.users {
		if u.Issuer != req.From {
			continue
		}
		if slices.ContainsFunc(b.users, func(o wire.AdminUser) bool { return o.Issuer == req.To && o.Subject == u.Subject }) {
			return wire.MigrateIssuerResult{}, fmt.Errorf("%w: subject %q of %s is taken", web.ErrConflict, u.Subject, req.To)
		}
		moving = append(moving, i)
	}
	for _, i := range moving {
		u := b.userLocked(i)
		u.Issuer = req.To
		res.Users = append(res.Users, u)
		if !req.DryRun {
			b.users[i].Issuer = req.To
		}
	}
	if !req.DryRun {
		b.changedLocked(by.Actor, "user.migrate_issuer", "issuer:"+req.To, map[string]any{"from": req.From})
	}
	return res, nil
}

// SessionRole implements web.Backend: it refuses the session of a person
// whose email a disabled user has, and returns the role SetSessionRole
// gave the person, else RoleOwner, which leaves a session its role at
// login. People unknown to the seed (the test IdP's admins) keep their
// sessions.
func (b *Backend) SessionRole(_ context.Context, _, email string) (admin.Role, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.users {
		if u.Email == email && u.Disabled {
			return admin.RoleNone, fmt.Errorf("user %s is disabled: %w", email, web.ErrForbidden)
		}
	}
	if r, ok := b.sessionRoles[email]; ok {
		return r, nil
	}
	return admin.RoleOwner, nil
}

// SetSessionRole makes role the role SessionRole returns for the person
// of email from now on, as if their groups had changed; it does not count
// as a write.
func (b *Backend) SetSessionRole(email string, role admin.Role) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessionRoles == nil {
		b.sessionRoles = map[string]admin.Role{}
	}
	b.sessionRoles[email] = role
}
