package coordinator

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
)

// userTouch is what a change to the users did to one node's map and to
// the maps of its peers (before and after): see setUsers.
type userTouch struct {
	subject store.NodeID
	ids     []store.NodeID
}

// setUsers records every user's email and IdP groups and, when a group's
// members changed, re-resolves the running policy with them. It returns
// the touches: for each node of a user whose email, groups or disable
// changed, the node itself and its peers before and after (a login whose
// groups are known touches only that person's nodes and their peers).
// Only nodes whose user changed can change their place in the policy:
// every other node's map changes by those nodes alone.
func (m *netmap) setUsers(users []store.User, now time.Time) ([]userTouch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	oldEmails, oldDisabled, oldMembers := maps.Clone(m.emails), maps.Clone(m.disabled), membersOf(m.groups)
	oldMFA := maps.Clone(m.mfa.at)
	groups := m.recordUsersLocked(users)
	changed := map[store.UserID]bool{}
	newMembers := membersOf(groups)
	for _, u := range users {
		if oldEmails[u.ID] != u.Email || oldDisabled[u.ID] != u.Disabled || !oldMFA[u.Email].Equal(u.MFATime) ||
			!slices.Equal(oldMembers[u.Email], newMembers[u.Email]) || !slices.Equal(oldMembers[oldEmails[u.ID]], newMembers[u.Email]) {
			changed[u.ID] = true
		}
	}
	var subjects []store.NodeID
	for id, n := range m.nodes {
		if len(n.Tags) == 0 && changed[n.UserID] {
			subjects = append(subjects, id)
			m.recStale[id] = true
		}
	}
	before := m.peerIDsLocked(subjects)
	if !groupsEqual(oldMembers, newMembers) || emailsChanged(oldEmails, m.emails) {
		rs, err := acl.Resolve(m.policy, acl.Options{ExternalGroups: groups})
		if err != nil {
			return nil, fmt.Errorf("resolve policy with IdP groups: %w", err)
		}
		if err := m.recompileLocked(rs, now); err != nil {
			return nil, err
		}
	}
	m.groups = groups
	after := m.peerIDsLocked(subjects)
	out := make([]userTouch, 0, len(subjects))
	for _, id := range subjects {
		ids := append(append([]store.NodeID{id}, before[id]...), after[id]...)
		slices.Sort(ids)
		out = append(out, userTouch{subject: id, ids: slices.Compact(ids)})
	}
	return out, nil
}

// peerIDsLocked lists the live peers of each of ids.
func (m *netmap) peerIDsLocked(ids []store.NodeID) map[store.NodeID][]store.NodeID {
	out := map[store.NodeID][]store.NodeID{}
	for _, id := range ids {
		if !m.live[id] {
			continue
		}
		names, err := m.comp.Peers(m.nodes[id].Name)
		if err == nil {
			out[id] = m.idsLocked(names)
		}
	}
	return out
}

// membersOf turns group -> emails into email -> sorted groups.
func membersOf(groups map[string][]string) map[string][]string {
	out := map[string][]string{}
	for g, emails := range groups {
		for _, e := range emails {
			out[e] = append(out[e], g)
		}
	}
	for _, gs := range out {
		slices.Sort(gs)
	}
	return out
}

func groupsEqual(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal[[]string])
}

// emailsChanged reports whether a user's email changed (a user new to
// the netmap is not a change: the policy knows no node of theirs yet).
func emailsChanged(old, cur map[store.UserID]string) bool {
	for id, e := range old {
		if c, ok := cur[id]; ok && c != e {
			return true
		}
	}
	return false
}
