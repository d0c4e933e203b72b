package coordinator

import (
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
)

// Step-up MFA on the data plane (issue 17): a device whose risk class has
// mfaWithin gets, in its filter, each person's access only while their
// last login with a second factor is that recent (acl's GateMFA): the
// gate is applied to every filter as it is cached (filterLocked), with the
// people's second-factor times the users' records hold (recorded at each
// login, node or admin UI). A person's access then ends on the device's
// own clock, as a just-in-time grant does, even with the coordinator
// down; with it up, the coordinator gates again when the first window in
// a cached filter ends (expireMFA), so the person's map drops the grant
// and their client can name the step-up. A fresh login with a second
// factor records a new time, which forgets the cached filters.

// mfaState is the netmap's step-up MFA state, guarded by netmap.mu.
type mfaState struct {
	// at maps a person's email to their last login with a second factor.
	at map[string]time.Time
	// next is the earliest end of a person's window in a cached filter;
	// zero when none ends.
	next time.Time
}

// recordMFALocked records the users' second-factor times and reports
// whether one changed.
func (m *netmap) recordMFALocked(users []store.User) bool {
	changed := false
	for _, u := range users {
		if u.Email == "" {
			continue
		}
		if old, ok := m.mfa.at[u.Email]; !ok && !u.MFATime.IsZero() || ok && !old.Equal(u.MFATime) {
			changed = true
		}
		if u.MFATime.IsZero() {
			delete(m.mfa.at, u.Email)
		} else {
			m.mfa.at[u.Email] = u.MFATime
		}
	}
	return changed
}

// gateMFALocked gates the filter f of the node named name on the people's
// second factors now, noting when the gate must be applied again.
func (m *netmap) gateMFALocked(name string, f []filter.Rule) []filter.Rule {
	out, next := m.comp.GateMFA(name, f, m.mfa.at, time.Now())
	if !next.IsZero() && (m.mfa.next.IsZero() || next.Before(m.mfa.next)) {
		m.mfa.next = next
	}
	return out
}

// forgetAllFiltersLocked drops every cached filter, and with them the
// windows they noted.
func (m *netmap) forgetAllFiltersLocked() {
	m.gen++ // see netmap.gen
	clear(m.filters)
	m.mfa.next = time.Time{}
}

// expireMFA forgets the cached filters once a person's window in one of
// them ended by now, and reports whether it did (then every map may
// change).
func (m *netmap) expireMFA(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mfa.next.IsZero() || now.Before(m.mfa.next) {
		return false
	}
	m.gen++ // see netmap.gen
	m.forgetAllFiltersLocked()
	return true
}

// mfaAtLocked returns the last login with a second factor of the person
// email; zero when none is known.
func (m *netmap) mfaAtLocked(email string) time.Time { return m.mfa.at[email] }

// expireMFA has every map gated again once a person's step-up window
// ended.
func (s *core) expireMFA(now time.Time) {
	if s.nm.expireMFA(now) {
		s.hub.notifyAll()
	}
}
