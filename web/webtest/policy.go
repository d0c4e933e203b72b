package webtest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// policyFile is the file name policy problems carry.
const policyFile = "policy"

// inventoryLocked is the live fleet as the acl compiler sees it.
func (b *Backend) inventoryLocked() acl.Inventory {
	var inv acl.Inventory
	for _, u := range b.users {
		// IdP groups become policy groups: "ops" is group:ops.
		var groups []string
		for _, g := range u.Groups {
			groups = append(groups, "group:"+strings.TrimPrefix(g, "group:"))
		}
		inv.Users = append(inv.Users, acl.User{Email: u.Email, Groups: groups})
	}
	for _, n := range b.nodes {
		if n.Expired {
			continue
		}
		inv.Nodes = append(inv.Nodes, acl.Node{Name: n.Name, IPv4: n.IPv4, IPv6: n.IPv6, User: n.User, Tags: n.Tags})
	}
	return inv
}

// checkLocked validates text against the live users and runs its tests.
func (b *Backend) checkLocked(text string) (*acl.Ruleset, []acl.TestResult, error) {
	opts := acl.Options{ExternalGroups: b.inventoryLocked().ExternalGroups()}
	return acl.Check(policyFile, []byte(text), opts)
}

func (b *Backend) rulesetLocked() (*acl.Ruleset, error) {
	rs, _, err := b.checkLocked(b.policies[len(b.policies)-1].Text)
	if err != nil {
		return nil, fmt.Errorf("check running policy: %w", err)
	}
	return rs, nil
}

// compileLocked compiles rs against the live fleet.
func (b *Backend) compileLocked(rs *acl.Ruleset) (*acl.Compiled, error) {
	c, err := acl.Compile(rs, b.inventoryLocked())
	if err != nil {
		return nil, fmt.Errorf("compile policy: %w", err)
	}
	return c, nil
}

// NodeAccess implements web.Backend with acl.AccessTo.
func (b *Backend) NodeAccess(_ context.Context, ref string) ([]acl.Access, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, err := b.nodeIndexLocked(ref)
	if err != nil {
		return nil, err
	}
	if b.nodes[i].Expired {
		return []acl.Access{}, nil
	}
	rs, err := b.rulesetLocked()
	if err != nil {
		return nil, err
	}
	c, err := b.compileLocked(rs)
	if err != nil {
		return nil, err
	}
	return acl.AccessTo(c, b.nodes[i].Name)
}

// Policy implements web.Backend.
func (b *Backend) Policy(context.Context) (wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policies[len(b.policies)-1], nil
}

// PolicyVersions implements web.Backend, newest first.
func (b *Backend) PolicyVersions(context.Context) ([]wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.policies)
	slices.Reverse(out)
	return out, nil
}

// PolicyVersion implements web.Backend.
func (b *Backend) PolicyVersion(_ context.Context, id int64) (wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id < 1 || id > int64(len(b.policies)) {
		return wire.PolicyVersion{}, fmt.Errorf("policy version %d: %w", id, web.ErrNotFound)
	}
	return b.policies[id-1], nil
}

// CheckPolicy implements web.Backend with acl.Check.
func (b *Backend) CheckPolicy(_ context.Context, text string) (acl.CheckResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, tests, err := b.checkLocked(text)
	probs := acl.Problems(err)
	if err != nil && probs == nil {
		return acl.CheckResult{}, fmt.Errorf("check policy: %w", err)
	}
	return acl.CheckResult{OK: err == nil, Problems: probs, Tests: tests}, nil
}

// PolicyImpact implements web.Backend with acl.ImpactOf.
func (b *Backend) PolicyImpact(_ context.Context, text string) (acl.Impact, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next, _, err := b.checkLocked(text)
	if err != nil {
		return acl.Impact{}, fmt.Errorf("check policy: %w", err)
	}
	cur, err := b.rulesetLocked()
	if err != nil {
		return acl.Impact{}, err
	}
	var compiled [2]*acl.Compiled
	for i, rs := range []*acl.Ruleset{cur, next} {
		if compiled[i], err = b.compileLocked(rs); err != nil {
			return acl.Impact{}, err
		}
	}
	return acl.ImpactOf(compiled[0], compiled[1])
}

// SetPolicy implements web.Backend: a stale parent is a conflict, a policy
// with problems or failing tests is refused whole.
func (b *Backend) SetPolicy(_ context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error) {
	actor := by.Actor
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.policies[len(b.policies)-1]
	if parent != -1 && parent != cur.ID {
		return wire.PolicyVersion{}, fmt.Errorf("%w: the edit started from version %d but version %d is live", web.ErrConflict, parent, cur.ID)
	}
	if _, _, err := b.checkLocked(text); err != nil {
		return wire.PolicyVersion{}, fmt.Errorf("set policy: %w", err)
	}
	v := wire.PolicyVersion{ID: cur.ID + 1, ParentID: cur.ID, Text: text, Author: actor, Comment: comment, CreatedAt: b.now().UTC()}
	b.policies = append(b.policies, v)
	b.changedLocked(actor, "policy.set", fmt.Sprintf("policy:%d", v.ID), map[string]any{"parent": cur.ID, "comment": comment})
	return v, nil
}
