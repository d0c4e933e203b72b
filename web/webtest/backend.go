package webtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

var _ web.Backend = (*Backend)(nil)

// Backend is an in-memory web.Backend seeded with a small fleet, users, a
// policy and audit events. It validates and compiles policies with the
// real acl package. It is safe for concurrent use.
type Backend struct {
	now func() time.Time

	mu sync.Mutex // mu guards the following
	// writes counts the changes made through Backend methods (RecordAudit
	// excepted), so tests can tell that a refused request changed nothing.
	writes   int
	nodes    []wire.AdminNode
	users    []wire.AdminUser
	authKeys []wire.AuthKey
	apiKeys  []apiKey
	relays   []wire.AdminRelay
	policies []wire.PolicyVersion // oldest first
	// alertRules are the saved alert rules' versions, oldest first.
	alertRules []wire.PolicyVersion
	audit      []wire.AuditEvent
	flows      []wire.AdminFlow // newest first
	// sessionRoles are the roles SessionRole returns by email (see
	// SetSessionRole); nil until set.
	sessionRoles map[string]admin.Role
}

// apiKey is an API key with its secret and role.
type apiKey struct {
	wire.APIKey
	secret string
	role   admin.Role
}

// NewBackend returns a seeded Backend whose clock is now (nil: time.Now).
func NewBackend(now func() time.Time) *Backend {
	if now == nil {
		now = time.Now
	}
	b := &Backend{now: now}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seedLocked()
	return b
}

// Writes returns how many changes Backend methods have made.
func (b *Backend) Writes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// AddAPIKey installs an API key secret acting with role and returns its
// id; it does not count as a write.
func (b *Backend) AddAPIKey(secret string, role admin.Role) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := int64(len(b.apiKeys) + 1)
	k := wire.APIKey{ID: id, Prefix: secret[:min(len(secret), 8)], Description: "test " + string(role), CreatedAt: b.now().UTC(), CreatedBy: "test"}
	b.apiKeys = append(b.apiKeys, apiKey{APIKey: k, secret: secret, role: role})
	return id
}

// changedLocked records a change and its audit event.
func (b *Backend) changedLocked(actor, action, target string, detail any) {
	b.writes++
	b.appendAuditLocked(wire.AuditEvent{Time: b.now().UTC(), Actor: actor, Action: action, Target: target, Detail: detail})
}

func (b *Backend) appendAuditLocked(e wire.AuditEvent) {
	e.ID = int64(len(b.audit) + 1)
	b.audit = append(b.audit, e)
}

// newSecret returns a secret with prefix and its display prefix.
func newSecret(prefix string) (string, string, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("read random: %w", err)
	}
	s := prefix + "_" + hex.EncodeToString(buf)
	return s, s[:len(prefix)+5], nil
}

// APIKey implements web.Backend.
func (b *Backend) APIKey(_ context.Context, secret string) (admin.Principal, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range b.apiKeys {
		if k.secret != secret {
			continue
		}
		if k.Revoked || (!k.Expiry.IsZero() && !b.now().Before(k.Expiry)) {
			return admin.Principal{}, fmt.Errorf("api key %s: %w: expired or revoked", k.Prefix, web.ErrForbidden)
		}
		return admin.Principal{Actor: "apikey:" + k.Prefix, Role: k.role}, nil
	}
	return admin.Principal{}, fmt.Errorf("%w: unknown api key", web.ErrUnauthorized)
}

// nodeIndexLocked finds a node by numeric id or name.
func (b *Backend) nodeIndexLocked(ref string) (int, error) {
	id, idErr := strconv.ParseInt(ref, 10, 64)
	i := slices.IndexFunc(b.nodes, func(n wire.AdminNode) bool {
		return n.Name == ref || (idErr == nil && int64(n.ID) == id)
	})
	if i < 0 {
		return 0, fmt.Errorf("node %q: %w", ref, web.ErrNotFound)
	}
	return i, nil
}

// AddSensors adds n tagged sensor nodes named sensor-0001 on, after the
// seeded fleet (for tests of the node list's pages), and returns their
// names in id order.
func (b *Backend) AddSensors(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now().UTC()
	var names []string
	next := wire.NodeID(1)
	for _, x := range b.nodes {
		next = max(next, x.ID+1)
	}
	for i := range n {
		var an wire.AdminNode
		an.ID, an.Name, an.Tags, an.OS, an.Version = next+wire.NodeID(i), fmt.Sprintf("sensor-%04d", i+1), []string{"tag:sensor"}, "linux", "1.0.0"
		an.IPv4 = netip.AddrFrom4([4]byte{100, 65, byte((i + 1) >> 8), byte(i + 1)})
		an.CreatedAt, an.LastSeen, an.KeyExpiry = now, now, now.Add(24*time.Hour)
		an.KeyLifetimeMillis = (24 * time.Hour).Milliseconds()
		b.nodes = append(b.nodes, an)
		names = append(names, an.Name)
	}
	return names
}

// NodePage implements web.Backend: pages of the fake's nodes in id order
// (it reads them all; only the real backend's cost is bounded).
func (b *Backend) NodePage(_ context.Context, after int64, limit int, match func(wire.AdminNode) bool) (wire.AdminNodePage, error) {
	if limit < 1 || limit > wire.NodePageMax || after < 0 {
		return wire.AdminNodePage{}, fmt.Errorf("%w: limit %d, after %d", web.ErrBadRequest, limit, after)
	}
	b.mu.Lock()
	nodes := slices.Clone(b.nodes)
	b.mu.Unlock()
	slices.SortFunc(nodes, func(x, y wire.AdminNode) int { return cmp.Compare(x.ID, y.ID) })
	page := wire.AdminNodePage{Nodes: []wire.AdminNode{}, Total: len(nodes)}
	for _, n := range nodes {
		if int64(n.ID) <= after || (match != nil && !match(n)) {
			continue
		}
		if len(page.Nodes) == limit {
			page.Next = strconv.FormatInt(int64(page.Nodes[limit-1].ID), 10)
			break
		}
		n.Peers = nil
		page.Nodes = append(page.Nodes, n)
	}
	return page, nil
}

// Node implements web.Backend.
func (b *Backend) Node(_ context.Context, ref string) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	return b.nodes[i], nil
}

// RemoveNode implements web.Backend.
func (b *Backend) RemoveNode(_ context.Context, ref string, by admin.Principal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return err
	}
	name := b.nodes[i].Name
	b.nodes = slices.Delete(b.nodes, i, i+1)
	b.changedLocked(by.Actor, "node.remove", "node:"+name, nil)
	return nil
}

// ExpireNode implements web.Backend.
func (b *Backend) ExpireNode(_ context.Context, ref string, by admin.Principal, _ bool) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	n := &b.nodes[i]
	before := n.KeyExpiry
	n.KeyExpiry, n.Expired = b.now().UTC(), true
	n.KeyRevoked = len(n.Tags) > 0
	b.changedLocked(by.Actor, "node.expire", "node:"+n.Name, map[string]any{"before": before, "after": n.KeyExpiry})
	return *n, nil
}

// ApproveNode implements web.Backend.
func (b *Backend) ApproveNode(_ context.Context, ref string, by admin.Principal) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	n := &b.nodes[i]
	if !n.KeyRevoked {
		return wire.AdminNode{}, fmt.Errorf("%w: node %s is not revoked", web.ErrBadRequest, n.Name)
	}
	n.KeyRevoked = false
	b.changedLocked(by.Actor, "node.approve", "node:"+n.Name, nil)
	return *n, nil
}

// SetNodeTags implements web.Backend: every tag needs a tagOwners entry in
// the running policy.
func (b *Backend) SetNodeTags(_ context.Context, ref string, tags []string, by admin.Principal) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	if err := b.checkTagsLocked(tags); err != nil {
		return wire.AdminNode{}, err
	}
	n := &b.nodes[i]
	before := n.Tags
	n.Tags = slices.Clone(tags)
	b.changedLocked(by.Actor, "node.tags", "node:"+n.Name, map[string]any{"before": before, "after": n.Tags})
	return *n, nil
}

// SetNodeRoutes implements web.Backend: approved routes are added to and
// rejected ones removed from the node's ApprovedRoutes.
func (b *Backend) SetNodeRoutes(_ context.Context, ref string, req wire.RoutesRequest, by admin.Principal) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	n := &b.nodes[i]
	before := slices.Clone(n.ApprovedRoutes)
	for _, r := range req.Approve {
		if !slices.Contains(n.ApprovedRoutes, r) {
			n.ApprovedRoutes = append(n.ApprovedRoutes, r)
		}
	}
	n.ApprovedRoutes = slices.DeleteFunc(n.ApprovedRoutes, func(p netip.Prefix) bool { return slices.Contains(req.Reject, p) })
	b.changedLocked(by.Actor, "node.routes", "node:"+n.Name, map[string]any{"before": before, "after": n.ApprovedRoutes})
	return *n, nil
}

// SetNodeRiskClass implements web.Backend: the class must be one the
// running policy defines (empty: unclassified).
func (b *Backend) SetNodeRiskClass(_ context.Context, ref, class string, by admin.Principal) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	rs, err := b.rulesetLocked()
	if err != nil {
		return wire.AdminNode{}, err
	}
	if class != "" {
		if err := rs.CheckRiskClass(class); err != nil {
			return wire.AdminNode{}, fmt.Errorf("%w: %v", web.ErrBadRequest, err)
		}
	}
	n := &b.nodes[i]
	before := n.RiskClassSet
	n.RiskClassSet, n.RiskClass = class, rs.RiskOf(class)
	b.changedLocked(by.Actor, "node.classify", "node:"+n.Name, map[string]any{"before": before, "after": class})
	return *n, nil
}

// RenameNode implements web.Backend: the name must be a DNS label no
// other node holds.
func (b *Backend) RenameNode(_ context.Context, ref, name string, by admin.Principal) (wire.AdminNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return wire.AdminNode{}, err
	}
	if err := dnsname.CheckLabel(name); err != nil {
		return wire.AdminNode{}, fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	if j := slices.IndexFunc(b.nodes, func(n wire.AdminNode) bool { return n.Name == name }); j >= 0 && j != i {
		return wire.AdminNode{}, fmt.Errorf("%w: name %q is taken", web.ErrConflict, name)
	}
	n := &b.nodes[i]
	before := n.Name
	n.Name = name
	b.changedLocked(by.Actor, "node.rename", "node:"+n.Name, map[string]any{"before": before, "after": name})
	return *n, nil
}

func (b *Backend) checkTagsLocked(tags []string) error {
	rs, err := b.rulesetLocked()
	if err != nil {
		return err
	}
	for _, t := range tags {
		if !strings.HasPrefix(t, "tag:") || !rs.HasTag(t) {
			return fmt.Errorf("%w: tag %q has no tagOwners entry in the policy", web.ErrBadRequest, t)
		}
	}
	return nil
}

// ListAlerts implements web.Backend: the fake keeps no alerts.
func (b *Backend) ListAlerts(context.Context, string, int) ([]wire.AdminAlert, error) {
	return []wire.AdminAlert{}, nil
}

// AckAlert implements web.Backend: the fake keeps no alerts, so every one
// is not found.
func (b *Backend) AckAlert(_ context.Context, id int64, _ admin.Principal) (wire.AdminAlert, error) {
	return wire.AdminAlert{}, fmt.Errorf("%w: alert %d", web.ErrNotFound, id)
}

// ListRequests implements web.Backend: the fake keeps no access requests.
func (b *Backend) ListRequests(context.Context) ([]wire.AccessRequest, error) {
	return []wire.AccessRequest{}, nil
}

// ListRollouts implements web.Backend: the fake keeps no rollouts.
func (b *Backend) ListRollouts(context.Context) ([]wire.Rollout, error) {
	return []wire.Rollout{}, nil
}

// Rollout implements web.Backend: the fake keeps no rollouts, so every
// one is not found.
func (b *Backend) Rollout(_ context.Context, id int64) (wire.Rollout, error) {
	return wire.Rollout{}, fmt.Errorf("%w: rollout %d", web.ErrNotFound, id)
}

// CreateRollout implements web.Backend: the fake refuses every rollout.
func (b *Backend) CreateRollout(context.Context, wire.RolloutCreate, admin.Principal) (wire.Rollout, error) {
	return wire.Rollout{}, fmt.Errorf("%w: the fake backend keeps no rollouts", web.ErrBadRequest)
}

// ActOnRollout implements web.Backend: every rollout is not found.
func (b *Backend) ActOnRollout(_ context.Context, id int64, _ string, _ admin.Principal) (wire.Rollout, error) {
	return wire.Rollout{}, fmt.Errorf("%w: rollout %d", web.ErrNotFound, id)
}

// DecideRequest implements web.Backend: the fake keeps no access
// requests, so every one is not found.
func (b *Backend) DecideRequest(_ context.Context, id int64, _ string, _ admin.Principal) (wire.AccessRequest, error) {
	return wire.AccessRequest{}, fmt.Errorf("%w: access request %d", web.ErrNotFound, id)
}
