package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
)

// A person is an (issuer, subject) of the identity provider in the store,
// and an email in the policy. An email is bound to one user: the first
// subject to log in with it. Another subject claiming it is refused until
// an admin rebinds the email (RebindEmail).

// admitUser records a login of id from source and returns the user, or
// refuses it, audited as user.login_refused with the reason: the user is
// disabled, or id's email is bound to another subject (an admin decides
// with RebindEmail). Node logins and admin UI logins both pass here.
func (s *logins) admitUser(ctx context.Context, id store.Identity, source string) (store.User, error) {
	u, err := s.st.UpsertUser(ctx, id, time.Now().UTC())
	if errors.Is(err, store.ErrEmailBound) {
		s.audit(ctx, "user:"+id.Email, "user.login_refused", "user:"+id.Email, source, map[string]any{
			"reason": "email bound to another subject", "issuer": id.Issuer, "subject": id.Subject, "error": err.Error()})
		return store.User{}, fmt.Errorf("%w: the email %s is already bound to another account of the identity provider; "+
			"an admin must decide: ward admin users rebind %s --to-subject %s", errForbidden, id.Email, id.Email, id.Subject)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("record user: %w", err)
	}
	if u.Disabled {
		s.audit(ctx, "user:"+u.Email, "user.login_refused", "user:"+u.Email, source, map[string]any{"reason": "user disabled"})
		return store.User{}, fmt.Errorf("%w: %s was disabled by an admin; an admin can enable the account again (ward admin users enable %s)",
			errForbidden, u.Email, u.Email)
	}
	return u, nil
}

// RebindEmail binds email to the identity provider's subject (of issuer;
// empty means the issuer of the email's current holder), after an admin
// decided that this subject is the person the email names. Every other
// holder loses the email and is disabled, and their keys are cut; the
// subject may then log in. Audited as user.rebind. It is refused when by's
// role does not cover the role of a user it changes, as they are or as
// they will be (see cover.go).
func (s *fleet) RebindEmail(ctx context.Context, email, issuer, subject string, by admin.Principal) (store.User, error) {
	if issuer == "" {
		holders, err := s.st.UsersByEmail(ctx, email)
		if err != nil {
			return store.User{}, err
		}
		if len(holders) == 0 {
			return store.User{}, fmt.Errorf("%w: no user has %q; give the issuer", errBadRequest, email)
		}
		issuer = holders[0].Issuer
	}
	unbound, to, err := s.st.RebindEmail(ctx, email, issuer, subject, time.Now().UTC(), s.coverCheck(by.Role))
	if err != nil {
		return store.User{}, s.refusedIfNotCovered(ctx, err, by, "user.rebind", "user:"+email)
	}
	actor := by.Actor
	var old []store.UserID
	for _, u := range unbound {
		old = append(old, u.ID)
		s.endAdminSessions(u.ID)
		if err := s.cutUserKeys(ctx, u, actor, "email rebound to another subject"); err != nil {
			return store.User{}, err
		}
	}
	if err := s.refreshUsers(ctx); err != nil {
		return store.User{}, err
	}
	s.audit(ctx, actor, "user.rebind", "user:"+email, "", map[string]any{"issuer": issuer, "subject": subject, "user": to.ID, "unbound": old})
	return to, nil
}

// MigrateIssuer moves every user of issuer from to issuer to (see
// store.Users.MigrateIssuer), for an identity provider whose issuer URL
// changed while its subjects stayed the same people: they keep their
// nodes, keys, emails and history instead of becoming new users at their
// next login. A dryRun changes nothing and returns what would move.
// Audited as user.migrate_issuer.
//
// to must be the issuer of the coordinator's identity provider, when it
// has one: users moved elsewhere could not log in (their emails stay bound
// to them), and a refresh, answered by the real issuer, would cut their
// keys.
//
// It is refused, dry run or not, when by's role does not cover the role of
// a user it would move (see cover.go).
func (s *fleet) MigrateIssuer(ctx context.Context, from, to string, dryRun bool, by admin.Principal) ([]store.User, error) {
	if s.cfg.OIDC != nil && to != s.cfg.OIDC.Issuer {
		return nil, fmt.Errorf("%w: users may only move to this coordinator's issuer, %s, not %s", errBadRequest, s.cfg.OIDC.Issuer, to)
	}
	users, err := s.st.MigrateIssuer(ctx, from, to, dryRun, s.coverCheck(by.Role))
	if err != nil {
		return nil, s.refusedIfNotCovered(ctx, err, by, "user.migrate_issuer", "issuer:"+to)
	}
	if dryRun {
		return users, nil
	}
	actor := by.Actor
	if a, ok := s.cfg.Auth.(ssoAuth); ok {
		if err := a.tokens.moveIssuer(ctx, from, to); err != nil {
			s.log.Warn("refresh tokens stay under the old issuer; those users are asked again at their next login", "err", err)
		}
	}
	ids := make([]store.UserID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	s.audit(ctx, actor, "user.migrate_issuer", "issuer:"+to, "", map[string]any{"from": from, "to": to, "users": ids})
	s.log.Info("users moved to a new issuer", "from", from, "to", to, "users", len(users))
	return users, nil
}

// AdminSessions is the admin UI's table of sessions, as the coordinator
// ends a person's sessions at once when it disables them or takes their
// email (package web's Handler implements it). The check on every request
// (Backend.SessionRole) ends them too, on every replica, at their next
// request.
type AdminSessions interface {
	// EndSessions ends every session of the person whose user reference
	// is user (the coordinator's user id, in decimal) and returns how many
	// ended. It is called from admin requests and must not block.
	EndSessions(user, email string) int
}

// adminSessionsBox holds an AdminSessions for an atomic.Pointer.
type adminSessionsBox struct{ AdminSessions }

// SetAdminSessions tells the coordinator whose admin sessions to end when
// it disables a person or takes their email. Call it before serving.
func (s *Server) SetAdminSessions(a AdminSessions) {
	s.fleet.adminSessions.Store(&adminSessionsBox{a})
}

// endAdminSessions ends every admin UI session of user id at once.
func (s *fleet) endAdminSessions(id store.UserID) {
	box := s.adminSessions.Load()
	if box == nil {
		return
	}
	if n := box.EndSessions(strconv.FormatInt(int64(id), 10), ""); n > 0 {
		s.log.Info("admin sessions ended", "user_id", id, "sessions", n)
	}
}

// sessionRole returns the admin role the admin session of user ref (an
// id) and email has now, resolved as an API key's is (core.roleOf: the
// user's email, their IdP groups as last recorded, the running policy's
// groups, the --admin-role mapping), so a person taken out of a
// role-holding group loses the role at their next request. The user must
// exist, be enabled and still hold email; a refusal wraps errForbidden.
func (s *fleet) sessionRole(ctx context.Context, ref, email string) (admin.Role, error) {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return admin.RoleNone, fmt.Errorf("%w: admin session without a user", errForbidden)
	}
	u, err := s.st.User(ctx, store.UserID(id))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return admin.RoleNone, fmt.Errorf("%w: user %d no longer exists", errForbidden, id)
	case err != nil:
		return admin.RoleNone, err
	case u.Disabled:
		return admin.RoleNone, fmt.Errorf("%w: user %s is disabled", errForbidden, u.Email)
	case u.Email != email:
		return admin.RoleNone, fmt.Errorf("%w: user %d no longer holds %s", errForbidden, id, email)
	}
	return s.roleOf(u), nil
}
