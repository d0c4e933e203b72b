package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// expireKeys drops nodes whose key expired from the policy and tells the
// nodes that saw them.
func (s *core) expireKeys(now time.Time) {
	gone, touched, err := s.nm.expire(now)
	if err != nil {
		s.log.Error("netmap and policy compiler disagreed; recompiled", "err", err)
	}
	if len(gone) == 0 {
		return
	}
	s.hub.notify(append(touched, gone...))
	if !s.runsJob(jobExpiryAudit) {
		return // another coordinator on the database audits them
	}
	for _, id := range gone {
		if n, ok := s.nm.node(id); ok {
			s.audit(s.ctx, "system", "node.key_expired", "node:"+n.Name, "", map[string]any{"expiry": n.KeyExpiry})
		}
	}
}

// reapEphemeral deletes ephemeral nodes offline for longer than the grace.
func (s *core) reapEphemeral(now time.Time) {
	if !s.runsJob(jobReapEphemeral) {
		return
	}
	var victims []store.Node
	s.nm.mu.Lock()
	for id := range s.nm.ephemeral {
		n := s.nm.nodes[id]
		seen := n.LastSeen
		if seen.IsZero() {
			seen = n.CreatedAt // registered but never connected
		}
		if n.Ephemeral && !s.nm.online[id] && now.Sub(seen) > s.cfg.EphemeralGrace {
			victims = append(victims, n)
		}
	}
	s.nm.mu.Unlock()
	for _, n := range victims {
		if s.hub.connected(n.ID) || s.seenElsewhere(n.ID, now) {
			continue
		}
		if _, err := s.removeNode(s.ctx, n.ID, "system", "ephemeral node offline"); err != nil {
			s.log.Warn("reap ephemeral node", "node", n.Name, "err", err)
		}
	}
}

// removeNode deletes a node: its addresses are quarantined until every peer
// has dropped its key, its sessions end, and every node that saw it is told.
func (s *core) removeNode(ctx context.Context, id store.NodeID, actor, why string) (store.Node, error) {
	n, err := s.st.DeleteNode(ctx, id, time.Now().Add(store.DefaultQuarantine))
	if err != nil {
		return store.Node{}, fmt.Errorf("remove node %d: %w", id, err)
	}
	s.dropNode(id) // the node's own stream sees it is gone and ends
	s.sess.revokeMachine(wire.MachinePublic(n.MachineKey))
	s.hub.forget(id)
	s.audit(ctx, actor, "node.remove", "node:"+n.Name, "", map[string]any{"reason": why, "id": n.ID})
	return n, nil
}

// ExpireNode ends a node's key now and every peer drops it. A device's key
// is revoked: its rotations are refused until an admin approves it
// (ApproveNode) or it registers with a new pre-auth key. A person's node
// comes back only through a new login, as always. With revokeAuthKey, the
// pre-auth key the device registered with is revoked too, so that a copy
// of it taken from the device registers no new node.
func (s *fleet) ExpireNode(ctx context.Context, id store.NodeID, actor string, revokeAuthKey bool) (store.Node, error) {
	now := time.Now().UTC()
	n, err := s.st.Node(ctx, id)
	if err != nil {
		return store.Node{}, fmt.Errorf("expire node %d: %w", id, err)
	}
	if len(n.Tags) > 0 {
		err = s.st.RevokeNodeKey(ctx, id, now)
	} else {
		err = s.st.SetKeyExpiry(ctx, id, now)
	}
	if err == nil {
		n, err = s.reloadNode(ctx, id)
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("expire node %d: %w", id, err)
	}
	s.audit(ctx, actor, "node.expire", "node:"+n.Name, "", map[string]any{"revoked": !n.KeyRevokedAt.IsZero()})
	if revokeAuthKey && n.AuthKeyID != 0 {
		if err := s.st.RevokeAuthKey(ctx, n.AuthKeyID, now); err != nil {
			return store.Node{}, fmt.Errorf("revoke the pre-auth key of node %s: %w", n.Name, err)
		}
		s.audit(ctx, actor, "authkey.revoke", fmt.Sprintf("authkey:%d", n.AuthKeyID), "", map[string]any{"with_node": n.Name})
	}
	return n, nil
}

// authKeyUsable tells whether pre-auth key id can still register nodes.
func (s *fleet) authKeyUsable(ctx context.Context, id store.AuthKeyID, now time.Time) bool {
	if id == 0 {
		return false
	}
	k, err := s.st.AuthKey(ctx, id)
	return err == nil && k.RevokedAt.IsZero() && (k.Expiry.IsZero() || now.Before(k.Expiry)) && (k.Reusable || k.UseCount == 0)
}

// ApproveNode lets a device whose key an admin revoked rotate again: it
// rotates to a new key by proof of its machine key (its revoked key stays
// expired). A node that is not revoked is refused with errBadRequest.
func (s *fleet) ApproveNode(ctx context.Context, id store.NodeID, actor string) (store.Node, error) {
	n, err := s.st.Node(ctx, id)
	if err == nil && n.KeyRevokedAt.IsZero() {
		err = fmt.Errorf("%w: node %s is not revoked", errBadRequest, n.Name)
	}
	if err == nil {
		err = s.st.ApproveNode(ctx, id)
	}
	if err == nil {
		n, err = s.reloadNode(ctx, id) // its own stream learns it may rotate
	}
	if err != nil {
		return store.Node{}, fmt.Errorf("approve node %d: %w", id, err)
	}
	s.audit(ctx, actor, "node.approve", "node:"+n.Name, "", nil)
	return n, nil
}

// SetNodeTags replaces a node's tags (each needs a tagOwners entry).
func (s *fleet) SetNodeTags(ctx context.Context, id store.NodeID, tags []string, actor string) (store.Node, error) {
	if err := s.checkTags(tags); err != nil {
		return store.Node{}, err
	}
	before, err := s.st.Node(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	if err := s.st.SetNodeTags(ctx, id, tags); err != nil {
		return store.Node{}, fmt.Errorf("tag node %d: %w", id, err)
	}
	n, err := s.reloadNode(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	s.audit(ctx, actor, "node.tags", "node:"+n.Name, "", map[string]any{"before": before.Tags, "after": n.Tags})
	return n, nil
}

// RenameNode gives a node a new DNS name: a valid label (dnsname.CheckLabel,
// else errBadRequest) no other node holds (else store.ErrNameTaken, a
// conflict); a refusal changes nothing. Its peers learn the name through
// their maps; the audit row holds the name before and after. The node's
// own name is no change, and no audit row.
func (s *fleet) RenameNode(ctx context.Context, id store.NodeID, name, actor string) (store.Node, error) {
	if err := dnsname.CheckLabel(name); err != nil {
		return store.Node{}, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	before, err := s.st.Node(ctx, id)
	if err != nil || before.Name == name {
		return before, err
	}
	if err := s.st.RenameNode(ctx, id, name); err != nil {
		return store.Node{}, err
	}
	n, err := s.reloadNode(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	s.audit(ctx, actor, "node.rename", "node:"+n.Name, "", map[string]any{"before": before.Name, "after": n.Name})
	return n, nil
}

// SetNodeRiskClass sets a node's risk class (one the running policy
// defines; empty: unclassified), recompiles the maps it moves and audits
// the change with the class before and after.
func (s *fleet) SetNodeRiskClass(ctx context.Context, id store.NodeID, class, actor string) (store.Node, error) {
	if err := s.checkRiskClass(class); err != nil {
		return store.Node{}, err
	}
	before, err := s.st.Node(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	if err := s.st.SetNodeRiskClass(ctx, id, class); err != nil {
		return store.Node{}, fmt.Errorf("classify node %d: %w", id, err)
	}
	n, err := s.reloadNode(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	s.audit(ctx, actor, "node.classify", "node:"+n.Name, "", map[string]any{"before": before.RiskClass, "after": n.RiskClass})
	return n, nil
}

// checkRiskClass refuses a class the running policy does not define;
// empty (unclassified) passes.
func (s *fleet) checkRiskClass(class string) error {
	if class == "" {
		return nil
	}
	if err := s.nm.ruleset().CheckRiskClass(class); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// checkTags refuses tags without a tagOwners entry in the running policy.
func (s *fleet) checkTags(tags []string) error {
	rs := s.nm.ruleset()
	for _, t := range tags {
		if !rs.HasTag(t) {
			return fmt.Errorf("%w: tag %q has no entry in the policy's tagOwners", errBadRequest, t)
		}
	}
	return nil
}

// seenElsewhere reports whether the store says node id is online, or was
// seen within the grace: its stream may be open on another coordinator on
// the database, whose presence this one's netmap does not hold. On a
// failed read it says yes: a node is never reaped on a guess.
func (s *core) seenElsewhere(id store.NodeID, now time.Time) bool {
	n, err := s.st.Node(s.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	return err != nil || n.Online || now.Sub(n.LastSeen) <= s.cfg.EphemeralGrace
}
