package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

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

func wireAuthKey(k store.AuthKey) wire.AuthKey {
	return wire.AuthKey{ID: int64(k.ID), Prefix: k.Prefix, Tags: k.Tags, Reusable: k.Reusable, Ephemeral: k.Ephemeral,
		Expiry: k.Expiry, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, UseCount: k.UseCount, Revoked: !k.RevokedAt.IsZero(),
		RiskClass: k.RiskClass}
}

// createAPIKey makes an API key on the authority of user creator (zero:
// the system) and returns its secret.
func (s *fleet) createAPIKey(ctx context.Context, desc, actor string, creator store.UserID, exp time.Time, scopes []string) (string, store.APIKey, error) {
	secret, prefix, err := newSecret("wak")
	if err != nil {
		return "", store.APIKey{}, err
	}
	k, err := s.st.CreateAPIKey(ctx, store.NewAPIKey{Hash: hashSecret(secret), Prefix: prefix, Description: desc,
		CreatedBy: actor, CreatorUserID: creator, Expiry: exp, CreatedAt: time.Now().UTC(), Scopes: scopes})
	if err != nil {
		return "", store.APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	s.audit(ctx, actor, "apikey.create", "apikey:"+k.Prefix, "", map[string]any{"description": desc, "expiry": exp, "scopes": scopes})
	return secret, k, nil
}

func wireAPIKey(k store.APIKey) wire.APIKey {
	return wire.APIKey{ID: int64(k.ID), Prefix: k.Prefix, Description: k.Description, CreatedAt: k.CreatedAt,
		CreatedBy: k.CreatedBy, Expiry: k.Expiry, LastUsed: k.LastUsed, Revoked: !k.RevokedAt.IsZero(), Scopes: k.Scopes}
}

// adminNode is n as the admin API shows one node: adminListNode with its
// live peers' names.
func (s *fleet) adminNode(n store.Node) wire.AdminNode {
	an := s.adminListNode(n)
	an.Peers = s.nm.peerNamesOf(n.ID)
	return an
}

// adminListNode is n as the node list shows it: without peers, whose
// names cost a walk of the node's policy result each (at 50,000 nodes the
// list spent most of its time there).
func (s *fleet) adminListNode(n store.Node) wire.AdminNode {
	self, _ := s.nm.selfOf(n.ID)
	an := wire.AdminNode{Node: self, Hostname: n.Hostname, OS: n.OS, Version: n.Version, Ephemeral: n.Ephemeral,
		CreatedAt: n.CreatedAt, LastSeen: n.LastSeen, Expired: expired(n, time.Now()), Endpoints: n.Endpoints,
		KeyRevoked: !n.KeyRevokedAt.IsZero(), AuthKeyID: int64(n.AuthKeyID), KeyLifetimeMillis: s.keyLifetimeOf(n).Milliseconds()}
	an.Online = s.nm.isOnline(n.ID) || s.hub.connected(n.ID) // a stream here, or on another coordinator
	an.RiskClass, an.RiskClassSet = s.nm.ruleset().RiskOf(n.RiskClass), n.RiskClass
	an.AdvertisedRoutes, an.ApprovedRoutes, an.PrimaryRoutes = n.AdvertisedRoutes, n.ApprovedRoutes, s.nm.primaryRoutes(n.ID)
	return an
}

// keyLifetimeOf is how long the coordinator makes n's keys live: a
// device's KeyLifetime, or its person's key TTL with their IdP groups'
// limits (keyTTL, without the IdP session's end, which only a login knows).
func (s *fleet) keyLifetimeOf(n store.Node) time.Duration {
	if len(n.Tags) > 0 || n.UserID == 0 {
		return s.cfg.KeyLifetime
	}
	ttl := s.keyTTL(s.nm.groupsOf(n.UserID), time.Time{}, time.Time{})
	if d := s.nm.riskKeyLifetime(s.nm.emailOf(n.UserID)); d > 0 && d < ttl {
		ttl = d
	}
	return ttl
}

// lookupNode finds a node by numeric id or by name.
func (s *fleet) lookupNode(ctx context.Context, ref string) (store.Node, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.st.Node(ctx, store.NodeID(id))
	}
	return s.st.NodeByName(ctx, ref)
}

func wirePolicy(p store.Policy, withText bool) wire.PolicyVersion {
	v := wire.PolicyVersion{ID: int64(p.ID), ParentID: int64(p.ParentID), Author: p.Author, Comment: p.Comment, CreatedAt: p.CreatedAt}
	if withText {
		v.Text = p.Text
	}
	return v
}
