package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
)

// DefaultPolicy is the policy of a coordinator that was never given one:
// nothing is allowed (Ward is default-deny).
const DefaultPolicy = "// Ward's default policy: nothing is allowed until an admin sets a policy.\n{\n  \"acls\": [],\n}\n"

// checkPolicy validates text and runs its tests, with the IdP's groups.
func (s *Server) checkPolicy(name, text string) (*acl.Ruleset, error) {
	var groups map[string][]string
	if s.nm != nil {
		groups = s.nm.externalGroups()
	}
	rs, _, err := acl.Check(name, []byte(text), acl.Options{ExternalGroups: groups})
	return rs, err
}

// initialPolicy returns the policy to start with: the --policy file when
// given (saved as a new version when it differs from the latest), else the
// latest saved version, else DefaultPolicy.
func (s *Server) initialPolicy(ctx context.Context) (*acl.Ruleset, error) {
	latest, err := s.st.LatestPolicy(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	text, name := DefaultPolicy, "default-policy"
	if err == nil {
		text, name = latest.Text, fmt.Sprintf("policy-v%d", latest.ID)
	}
	if s.cfg.PolicyFile != "" {
		b, err := os.ReadFile(s.cfg.PolicyFile)
		if err != nil {
			return nil, fmt.Errorf("read policy: %w", err)
		}
		rs, err := s.checkPolicy(s.cfg.PolicyFile, string(b))
		if err != nil {
			return nil, err
		}
		if string(b) != latest.Text {
			if _, err := s.savePolicyVersion(ctx, string(b), "file:"+s.cfg.PolicyFile, "loaded at start", int64(latest.ID)); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	return s.checkPolicy(name, text)
}

func (s *Server) savePolicyVersion(ctx context.Context, text, author, comment string, parent int64) (store.Policy, error) {
	return s.st.SavePolicy(ctx, store.NewPolicy{Text: text, Author: author, Comment: comment,
		ParentID: store.PolicyID(parent), CreatedAt: time.Now().UTC()})
}

// ReloadPolicyFile re-reads the --policy file (on SIGHUP). An invalid file
// is refused with the acl errors and the running policy stays.
func (s *Server) ReloadPolicyFile(ctx context.Context) error {
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
// nothing.
func (s *Server) SetPolicy(ctx context.Context, text, author, comment string, parent int64, name string) (store.Policy, error) {
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	if name == "" {
		name = "policy"
	}
	rs, err := s.checkPolicy(name, text)
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
