package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// adminHandler is an admin API handler; actor names the API key.
type adminHandler func(w http.ResponseWriter, r *http.Request, actor string) error

func (s *Server) adminRoutes(mux *http.ServeMux) {
	h := func(pattern string, f adminHandler) { mux.Handle(pattern, s.admin(f)) }
	h("POST "+wire.PathAdminAuthKeys, s.adminCreateAuthKey)
	h("GET "+wire.PathAdminAuthKeys, s.adminListAuthKeys)
	h("DELETE "+wire.PathAdminAuthKeys+"/{id}", s.adminRevokeAuthKey)
	h("POST "+wire.PathAdminAPIKeys, s.adminCreateAPIKey)
	h("GET "+wire.PathAdminAPIKeys, s.adminListAPIKeys)
	h("DELETE "+wire.PathAdminAPIKeys+"/{id}", s.adminRevokeAPIKey)
	h("GET "+wire.PathAdminNodes, s.adminListNodes)
	h("GET "+wire.PathAdminNodes+"/{id}", s.adminShowNode)
	h("DELETE "+wire.PathAdminNodes+"/{id}", s.adminRemoveNode)
	h("POST "+wire.PathAdminNodes+"/{id}/expire", s.adminExpireNode)
	h("PUT "+wire.PathAdminNodes+"/{id}/tags", s.adminTagNode)
	h("GET "+wire.PathAdminPolicy, s.adminGetPolicy)
	h("PUT "+wire.PathAdminPolicy, s.adminSetPolicy)
	h("GET "+wire.PathAdminPolicy+"/versions", s.adminPolicyVersions)
	h("GET "+wire.PathAdminAudit, s.adminAudit)
}

// admin authenticates a request with an API key and runs f.
func (s *Server) admin(f adminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := bearer(r)
		if err == nil {
			var k store.APIKey
			k, err = s.st.APIKeyByHash(r.Context(), hashSecret(tok), time.Now())
			if err == nil {
				_ = s.st.TouchAPIKey(r.Context(), k.ID, time.Now().UTC())
				err = f(w, r, fmt.Sprintf("apikey:%s", k.Prefix))
			} else if errors.Is(err, store.ErrNotFound) {
				err = errBadToken
			}
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad id %q", errBadRequest, r.PathValue("id"))
	}
	return id, nil
}

func parseExpiry(s string, def time.Duration, now time.Time) (time.Time, error) {
	if s == "" {
		if def == 0 {
			return time.Time{}, nil
		}
		return now.Add(def), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%w: expiry %q is not a positive duration like 24h", errBadRequest, s)
	}
	return now.Add(d), nil
}

func (s *Server) adminCreateAuthKey(w http.ResponseWriter, r *http.Request, actor string) error {
	var req wire.CreateAuthKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	k, err := s.CreateAuthKey(r.Context(), req, actor, remoteIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func wireAuthKey(k store.AuthKey) wire.AuthKey {
	return wire.AuthKey{ID: int64(k.ID), Prefix: k.Prefix, Tags: k.Tags, Reusable: k.Reusable, Ephemeral: k.Ephemeral,
		Expiry: k.Expiry, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, UseCount: k.UseCount, Revoked: !k.RevokedAt.IsZero()}
}

func (s *Server) adminListAuthKeys(w http.ResponseWriter, r *http.Request, _ string) error {
	keys, err := s.st.ListAuthKeys(r.Context())
	if err != nil {
		return err
	}
	out := make([]wire.AuthKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, wireAuthKey(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminRevokeAuthKey(w http.ResponseWriter, r *http.Request, actor string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.st.RevokeAuthKey(r.Context(), store.AuthKeyID(id), time.Now().UTC()); err != nil {
		return fmt.Errorf("revoke auth key %d: %w", id, err)
	}
	s.audit(r.Context(), actor, "authkey.revoke", fmt.Sprintf("authkey:%d", id), remoteIP(r), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createAPIKey makes an API key and returns its secret.
func (s *Server) createAPIKey(ctx context.Context, desc, actor string, exp time.Time) (string, store.APIKey, error) {
	secret, prefix, err := newSecret("wak")
	if err != nil {
		return "", store.APIKey{}, err
	}
	k, err := s.st.CreateAPIKey(ctx, store.NewAPIKey{Hash: hashSecret(secret), Prefix: prefix, Description: desc,
		CreatedBy: actor, Expiry: exp, CreatedAt: time.Now().UTC()})
	if err != nil {
		return "", store.APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	s.audit(ctx, actor, "apikey.create", "apikey:"+k.Prefix, "", map[string]any{"description": desc, "expiry": exp})
	return secret, k, nil
}

func wireAPIKey(k store.APIKey) wire.APIKey {
	return wire.APIKey{ID: int64(k.ID), Prefix: k.Prefix, Description: k.Description, CreatedAt: k.CreatedAt,
		CreatedBy: k.CreatedBy, Expiry: k.Expiry, LastUsed: k.LastUsed, Revoked: !k.RevokedAt.IsZero()}
}

func (s *Server) adminCreateAPIKey(w http.ResponseWriter, r *http.Request, actor string) error {
	var req wire.CreateAPIKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	exp, err := parseExpiry(req.Expiry, 0, time.Now().UTC())
	if err != nil {
		return err
	}
	secret, k, err := s.createAPIKey(r.Context(), req.Description, actor, exp)
	if err != nil {
		return err
	}
	out := wireAPIKey(k)
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) adminListAPIKeys(w http.ResponseWriter, r *http.Request, _ string) error {
	keys, err := s.st.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	out := make([]wire.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, wireAPIKey(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminRevokeAPIKey(w http.ResponseWriter, r *http.Request, actor string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.st.RevokeAPIKey(r.Context(), store.APIKeyID(id), time.Now().UTC()); err != nil {
		return fmt.Errorf("revoke api key %d: %w", id, err)
	}
	s.audit(r.Context(), actor, "apikey.revoke", fmt.Sprintf("apikey:%d", id), remoteIP(r), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminNode(n store.Node) wire.AdminNode {
	v, _ := s.nm.viewOf(n.ID)
	an := wire.AdminNode{Node: v.self, Hostname: n.Hostname, OS: n.OS, Version: n.Version, Ephemeral: n.Ephemeral,
		CreatedAt: n.CreatedAt, LastSeen: n.LastSeen, Expired: expired(n, time.Now()), Endpoints: n.Endpoints}
	an.Online = s.hub.connected(n.ID)
	for _, p := range v.peers {
		an.Peers = append(an.Peers, p.Name)
	}
	return an
}

func (s *Server) adminListNodes(w http.ResponseWriter, r *http.Request, _ string) error {
	nodes, err := s.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	out := make([]wire.AdminNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, s.adminNode(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// lookupNode finds a node by numeric id or by name.
func (s *Server) lookupNode(ctx context.Context, ref string) (store.Node, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.st.Node(ctx, store.NodeID(id))
	}
	return s.st.NodeByName(ctx, ref)
}

func (s *Server) adminShowNode(w http.ResponseWriter, r *http.Request, _ string) error {
	n, err := s.lookupNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.adminNode(n))
	return nil
}

func (s *Server) adminRemoveNode(w http.ResponseWriter, r *http.Request, actor string) error {
	n, err := s.lookupNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := s.RemoveNode(r.Context(), n.ID, actor, "removed by admin"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminExpireNode(w http.ResponseWriter, r *http.Request, actor string) error {
	n, err := s.lookupNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	n, err = s.ExpireNode(r.Context(), n.ID, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.adminNode(n))
	return nil
}

func (s *Server) adminTagNode(w http.ResponseWriter, r *http.Request, actor string) error {
	n, err := s.lookupNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var req wire.SetTagsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	n, err = s.SetNodeTags(r.Context(), n.ID, req.Tags, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.adminNode(n))
	return nil
}

func wirePolicy(p store.Policy, withText bool) wire.PolicyVersion {
	v := wire.PolicyVersion{ID: int64(p.ID), ParentID: int64(p.ParentID), Author: p.Author, Comment: p.Comment, CreatedAt: p.CreatedAt}
	if withText {
		v.Text = p.Text
	}
	return v
}

func (s *Server) adminGetPolicy(w http.ResponseWriter, r *http.Request, _ string) error {
	p, err := s.st.LatestPolicy(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusOK, wire.PolicyVersion{Text: DefaultPolicy, Author: "default"})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wirePolicy(p, true))
	return nil
}

func (s *Server) adminSetPolicy(w http.ResponseWriter, r *http.Request, actor string) error {
	var req wire.SetPolicyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.SetPolicy(r.Context(), req.Text, actor, req.Comment, req.ParentID, "policy")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wirePolicy(p, false))
	return nil
}

func (s *Server) adminPolicyVersions(w http.ResponseWriter, r *http.Request, _ string) error {
	ps, err := s.st.ListPolicies(r.Context())
	if err != nil {
		return err
	}
	out := make([]wire.PolicyVersion, 0, len(ps))
	for _, p := range ps {
		out = append(out, wirePolicy(p, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	f := store.AuditFilter{ActionPrefix: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target"), Order: store.OldestFirst}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := time.ParseDuration(v)
			if derr != nil {
				return fmt.Errorf("%w: since %q is neither RFC 3339 nor a duration", errBadRequest, v)
			}
			t = time.Now().Add(-d)
		}
		f.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: bad limit %q", errBadRequest, v)
		}
		f.Limit = n
	}
	evs, err := s.st.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]wire.AuditEvent, 0, len(evs))
	for _, e := range evs {
		we := wire.AuditEvent{ID: int64(e.ID), Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Source: e.Source}
		if len(e.Detail) > 0 {
			we.Detail = json.RawMessage(e.Detail)
		}
		out = append(out, we)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
