package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
)

// DefaultPolicy is the policy of a coordinator that was never given one:
// nothing is allowed (Ward is default-deny).
const DefaultPolicy = "// Ward's default policy: nothing is allowed until an admin sets a policy.\n{\n  \"acls\": [],\n}\n"

// checkPolicy validates text and runs its tests, with the IdP's groups.
func (s *fleet) checkPolicy(name, text string) (*acl.Ruleset, error) {
	var groups map[string][]string
	if s.nm != nil {
		groups = s.nm.externalGroups()
	}
	rs, _, err := acl.Check(name, []byte(text), acl.Options{ExternalGroups: groups})
	return rs, err
}

// Policy modes: which of the --policy file and the stored policy wins at
// start (Config.PolicyMode).
const (
	// PolicyModeStore makes the store the source of truth once it holds a
	// policy: the file only seeds an empty store, and a file that differs
	// (or is invalid) is a warning at start. SIGHUP loads the file as a new
	// version, an explicit admin action. The default.
	PolicyModeStore = "store"
	// PolicyModeFile makes the file win (GitOps): it is loaded at every
	// start, saved as a new version when it differs, and an invalid file
	// stops the start. Edits made through the admin UI or API last until
	// the next start or SIGHUP.
	PolicyModeFile = "file"
)

// initialPolicy returns the policy to start with. An empty store takes the
// --policy file (saved as the first version), else DefaultPolicy. A store
// holding a policy keeps it, whatever the file says, unless the policy mode
// is PolicyModeFile.
func (s *fleet) initialPolicy(ctx context.Context) (*acl.Ruleset, error) {
	latest, err := s.st.LatestPolicy(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if s.cfg.PolicyFile == "" {
			return s.checkPolicy("default-policy", DefaultPolicy)
		}
		return s.loadPolicyFile(ctx, latest, "seeded from the policy file at first start")
	case err != nil:
		return nil, fmt.Errorf("load policy: %w", err)
	}
	if s.cfg.PolicyFile != "" && s.cfg.PolicyMode == PolicyModeFile {
		s.log.Warn("policy mode file: the policy file replaces the stored policy at every start and SIGHUP; edits made in the admin UI or API do not survive them",
			"file", s.cfg.PolicyFile, "stored_version", latest.ID)
		return s.loadPolicyFile(ctx, latest, "loaded at start (policy mode file)")
	}
	if s.cfg.PolicyFile != "" {
		s.compareFileToStored(latest)
	}
	return s.checkPolicy(fmt.Sprintf("policy-v%d", latest.ID), latest.Text)
}

// loadPolicyFile reads and checks the --policy file and, when it differs
// from latest, saves it as a new version, audited. Any failure stops the
// start: there is no stored policy to fall back on, or the file must win.
func (s *fleet) loadPolicyFile(ctx context.Context, latest store.Policy, comment string) (*acl.Ruleset, error) {
	b, err := os.ReadFile(s.cfg.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	rs, err := s.checkPolicy(s.cfg.PolicyFile, string(b))
	if err != nil {
		return nil, err
	}
	if latest.ID != 0 && string(b) == latest.Text {
		return rs, nil
	}
	author := "file:" + s.cfg.PolicyFile
	v, err := s.savePolicyVersion(ctx, string(b), author, comment, int64(latest.ID))
	if err != nil {
		return nil, err
	}
	s.audit(ctx, author, "policy.set", fmt.Sprintf("policy:v%d", v.ID), "", map[string]any{"comment": comment, "parent": latest.ID})
	s.log.Info("policy file loaded", "file", s.cfg.PolicyFile, "version", v.ID, "replaced_version", latest.ID)
	return rs, nil
}

// compareFileToStored warns, in PolicyModeStore, when the --policy file is
// unreadable, invalid or differs from the stored policy, which stays.
func (s *fleet) compareFileToStored(latest store.Policy) {
	b, err := os.ReadFile(s.cfg.PolicyFile)
	if err != nil {
		s.log.Warn("cannot read the policy file; the stored policy stays in force", "file", s.cfg.PolicyFile,
			"stored_version", latest.ID, "err", err)
		return
	}
	if string(b) == latest.Text {
		return
	}
	if _, err := s.checkPolicy(s.cfg.PolicyFile, string(b)); err != nil {
		s.log.Warn("the policy file is invalid and was not loaded; the stored policy stays in force", "file", s.cfg.PolicyFile,
			"stored_version", latest.ID, "err", err)
		return
	}
	s.log.Warn("the policy file differs from the stored policy, which stays in force: the store is the source of truth once it holds a policy; "+
		"send SIGHUP to load the file as a new version, or start with --policy-mode=file to make the file win",
		"file", s.cfg.PolicyFile, "stored_version", latest.ID)
}

func (s *fleet) savePolicyVersion(ctx context.Context, text, author, comment string, parent int64) (store.Policy, error) {
	return s.st.SavePolicy(ctx, store.NewPolicy{Text: text, Author: author, Comment: comment,
		ParentID: store.PolicyID(parent), CreatedAt: time.Now().UTC()})
}

// ReloadPolicyFile re-reads the --policy file and installs it as a new
// version (see fleet.ReloadPolicyFile); `ward coordinator` calls it on
// SIGHUP.
func (s *Server) ReloadPolicyFile(ctx context.Context) error { return s.fleet.ReloadPolicyFile(ctx) }

// ReloadPolicyFile re-reads the --policy file (on SIGHUP) and installs it
// as a new version, in either policy mode: a SIGHUP is an explicit admin
// action, audited as policy.set by "file:PATH". An invalid file is refused
// with the acl errors and the running policy stays.
func (s *fleet) ReloadPolicyFile(ctx context.Context) error {
	if s.cfg.PolicyFile == "" {
		return errors.New("reload policy: no --policy file configured")
	}
	b, err := os.ReadFile(s.cfg.PolicyFile)
	if err != nil {
		return fmt.Errorf("reload policy: %w", err)
	}
	_, err = s.SetPolicy(ctx, string(b), "file:"+s.cfg.PolicyFile, "reloaded (SIGHUP)", -1, s.cfg.PolicyFile)
	return err
}

// SetPolicy validates text (syntax, references and the policy's tests),
// saves it as a new version (refusing with store.ErrConflict when parent is
// not the latest version, unless parent is -1), then makes it current and
// pushes the change to the nodes it affects. A refused policy changes
// nothing. It acts as the system (the policy file, tests); see
// setPolicyAs for an admin's change.
func (s *fleet) SetPolicy(ctx context.Context, text, author, comment string, parent int64, name string) (store.Policy, error) {
	return s.setPolicyAs(ctx, policyEdit{text: text, author: author, comment: comment, parent: parent, name: name, role: admin.RoleOwner})
}

// policyEdit is a policy change and who makes it.
type policyEdit struct {
	text, author, comment, name string
	parent                      int64
	// role is the role of the principal making the change: the policy's
	// groups may change who holds an admin role only within it.
	role admin.Role
}

// setPolicyAs is SetPolicy on the authority of e.role: a change of the
// policy's groups that changes who holds an admin role (--admin-role
// group:NAME) is refused with errForbidden unless e.role covers that role.
func (s *fleet) setPolicyAs(ctx context.Context, e policyEdit) (store.Policy, error) {
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	text, author, comment, parent, name := e.text, e.author, e.comment, e.parent, e.name
	if name == "" {
		name = "policy"
	}
	rs, err := s.checkPolicy(name, text)
	if err == nil {
		err = s.checkRoleChange(e.role, rs.Policy())
	}
	if err != nil {
		s.audit(ctx, author, "policy.rejected", "policy", "", map[string]any{"comment": comment, "error": err.Error()})
		return store.Policy{}, err
	}
	latest, err := s.st.LatestPolicy(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Policy{}, err
	}
	if parent >= 0 && int64(latest.ID) != parent {
		return store.Policy{}, fmt.Errorf("save policy: %w: version %d was saved since version %d", store.ErrConflict, latest.ID, parent)
	}
	v, err := s.savePolicyVersion(ctx, text, author, comment, int64(latest.ID))
	if err != nil {
		return store.Policy{}, fmt.Errorf("save policy: %w", err)
	}
	if err := s.nm.setPolicy(rs, time.Now()); err != nil {
		return store.Policy{}, err
	}
	s.hub.notifyAll()
	s.audit(ctx, author, "policy.set", fmt.Sprintf("policy:v%d", v.ID), "", map[string]any{"comment": comment, "parent": latest.ID})
	s.log.Info("policy changed", "version", v.ID, "author", author)
	return v, nil
}

// checkRoleChange refuses, with errForbidden, a change of the running
// policy's groups to next's that changes the members of a group mapped to
// an admin role that role does not cover (see admin.Role.Covers): otherwise
// a network-admin, who may edit the policy, could make themselves owner.
func (s *fleet) checkRoleChange(role admin.Role, next *acl.Policy) error {
	for key, r := range s.cfg.AdminRoles {
		if !strings.HasPrefix(key, admin.MemberPolicyGroup) || role.Covers(r) {
			continue
		}
		var old *acl.Policy
		if rs := s.nm.ruleset(); rs != nil {
			old = rs.Policy()
		}
		if !slices.Equal(groupMembers(old, key), groupMembers(next, key)) {
			return fmt.Errorf("%w: %s holds the role %s (--admin-role); changing its members needs a role with every right of %s, not %s",
				errForbidden, key, r, r, role)
		}
	}
	return nil
}

// groupMembers returns the members p's "groups" lists under name, sorted
// and without duplicates.
func groupMembers(p *acl.Policy, name string) []string {
	var out []string
	if p == nil {
		return nil
	}
	for _, g := range p.Groups {
		if g.Name.S != name {
			continue
		}
		for _, m := range g.Members {
			out = append(out, m.S)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
