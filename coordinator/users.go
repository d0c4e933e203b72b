package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

func (s *Server) userRoutes(mux *http.ServeMux) {
	h := func(pattern string, f adminHandler) { mux.Handle(pattern, s.admin(f)) }
	h("GET "+wire.PathAdminUsers, s.adminListUsers)
	h("GET "+wire.PathAdminUsers+"/{id}", s.adminShowUser)
	h("POST "+wire.PathAdminUsers+"/{id}/disable", s.adminDisableUser)
	h("POST "+wire.PathAdminUsers+"/{id}/enable", s.adminEnableUser)
}

// lookupUser finds a user by numeric id or email.
func (s *Server) lookupUser(ctx context.Context, ref string) (store.User, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.st.User(ctx, store.UserID(id))
	}
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return store.User{}, err
	}
	for _, u := range users {
		if u.Email == ref {
			return u, nil
		}
	}
	return store.User{}, fmt.Errorf("user %q: %w", ref, store.ErrNotFound)
}

func (s *Server) adminUser(ctx context.Context, u store.User) (wire.AdminUser, error) {
	au := wire.AdminUser{ID: int64(u.ID), Email: u.Email, Name: u.DisplayName, Issuer: u.Issuer, Subject: u.Subject,
		Groups: u.Groups, Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLogin: u.LastLogin, Nodes: []string{}}
	for _, n := range s.userNodes(u.ID) {
		au.Nodes = append(au.Nodes, n.Name)
	}
	return au, nil
}

// userNodes returns the nodes owned by user id.
func (s *Server) userNodes(id store.UserID) []store.Node {
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

func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request, _ string) error {
	users, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]wire.AdminUser, 0, len(users))
	for _, u := range users {
		au, err := s.adminUser(r.Context(), u)
		if err != nil {
			return err
		}
		out = append(out, au)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminShowUser(w http.ResponseWriter, r *http.Request, _ string) error {
	u, err := s.lookupUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	au, err := s.adminUser(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, au)
	return nil
}

func (s *Server) adminDisableUser(w http.ResponseWriter, r *http.Request, actor string) error {
	return s.setUserDisabled(w, r, actor, true)
}

func (s *Server) adminEnableUser(w http.ResponseWriter, r *http.Request, actor string) error {
	return s.setUserDisabled(w, r, actor, false)
}

func (s *Server) setUserDisabled(w http.ResponseWriter, r *http.Request, actor string, disabled bool) error {
	u, err := s.lookupUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.SetUserDisabled(r.Context(), u.ID, disabled, actor); err != nil {
		return err
	}
	u.Disabled = disabled
	au, err := s.adminUser(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, au)
	return nil
}

// SetUserDisabled disables (or re-enables) a user. Disabling expires every
// key of the user's nodes at once, so every peer drops them; the user can
// only come back by logging in again once re-enabled.
func (s *Server) SetUserDisabled(ctx context.Context, id store.UserID, disabled bool, actor string) error {
	if err := s.st.SetUserDisabled(ctx, id, disabled); err != nil {
		return fmt.Errorf("set user %d disabled=%v: %w", id, disabled, err)
	}
	u, err := s.st.User(ctx, id)
	if err != nil {
		return err
	}
	action := "user.enable"
	if disabled {
		action = "user.disable"
		now := time.Now().UTC()
		for _, n := range s.userNodes(id) {
			if err := s.st.SetKeyExpiry(ctx, n.ID, now); err != nil {
				return fmt.Errorf("expire key of %s: %w", n.Name, err)
			}
			n.KeyExpiry = now
			if err := s.nodeChanged(n); err != nil {
				return err
			}
			s.audit(ctx, actor, "node.key_revoked", "node:"+n.Name, "", map[string]any{"user": u.Email, "reason": "user disabled"})
		}
	}
	s.audit(ctx, actor, action, "user:"+u.Email, "", nil)
	return nil
}
