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
// names cost a walk of the node's policy result each (BenchmarkNodeList:
// at 10,000 nodes they were 57 % of the whole list's time).
func (s *fleet) adminListNode(n store.Node) wire.AdminNode {
	return s.adminListNodes([]store.Node{n})[0]
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
