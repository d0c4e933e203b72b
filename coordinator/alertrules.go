package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/fault"
	"github.com/wardnet/ward/wire"
)

// DefaultAlertRules is the rules text shown for a coordinator that has no
// stored version: no rule.
const DefaultAlertRules = "// Ward's alert rules: none yet. See the README's \"Watching the fleet\".\n{\n  \"destinations\": [],\n  \"rules\": [],\n}\n"

// The alert rules live in the store, versioned like the policy
// (store.AlertRuleVersions), edited in the admin UI and API and audited as
// alerts.save. The --alerts file is imported at start whenever it is not
// the text last imported from it (the newest version by "file:PATH"): a
// changed file wins at the next start, and edits in the UI stand until
// the file changes again. Rules set in Config.AlertRules without a file
// (embedders, tests) are in force until a version is stored.

// initialAlertRules imports the --alerts file if it changed, and puts the
// newest stored version in force.
func (s *core) initialAlertRules(ctx context.Context) error {
	if s.cfg.AlertRulesFile != "" {
		if err := s.importAlertRulesFile(ctx); err != nil {
			return err
		}
	}
	latest, err := s.st.LatestAlertRules(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("load alert rules: %w", err)
	}
	rs, err := alert.Parse(alertRulesName(latest.ID), []byte(latest.Text))
	if err != nil {
		// A version a later Ward reads more strictly: keep running on
		// what the configuration gave, and say so.
		s.log.Error("the stored alert rules do not parse; save a corrected version", "version", latest.ID, "err", err)
		return nil
	}
	s.alerts.mu.Lock()
	s.alerts.rules.Store(rs)
	s.alerts.disp = alert.NewDispatcher(rs.Inhibit)
	s.alerts.mu.Unlock()
	s.alerts.version.Store(int64(latest.ID))
	return nil
}

// followAlertRules puts in force a version another coordinator on the
// shared database saved (a no-op on SQLite, where this one saves all).
func (s *core) followAlertRules(ctx context.Context, now time.Time) {
	if s.cfg.DB == "" {
		return
	}
	latest, err := s.st.LatestAlertRules(ctx)
	if err != nil || int64(latest.ID) <= s.alerts.version.Load() {
		return
	}
	s.alertRulesMu.Lock()
	defer s.alertRulesMu.Unlock()
	if int64(latest.ID) <= s.alerts.version.Load() {
		return
	}
	rs, err := alert.Parse(alertRulesName(latest.ID), []byte(latest.Text))
	if err != nil {
		s.log.Error("the stored alert rules do not parse; save a corrected version", "version", latest.ID, "err", err)
		s.alerts.version.Store(int64(latest.ID))
		return
	}
	s.setRules(ctx, rs, now)
	s.alerts.version.Store(int64(latest.ID))
	s.log.Info("alert rules saved by another coordinator are in force", "version", latest.ID)
}

// sentAlertRulesName is what problems call alert rules being saved
// ("alert-rules:3:7: ...").
const sentAlertRulesName = "alert-rules"

// alertRulesName names version id in problems ("alert-rules-v3:2:5: ...").
func alertRulesName(id store.PolicyID) string { return fmt.Sprintf("alert-rules-v%d", id) }

// importAlertRulesFile saves the --alerts file as a new version, audited,
// unless it is the text last imported from it.
func (s *core) importAlertRulesFile(ctx context.Context) error {
	b, err := os.ReadFile(s.cfg.AlertRulesFile)
	if err != nil {
		return fmt.Errorf("read alert rules: %w", err)
	}
	if _, err := alert.Parse(s.cfg.AlertRulesFile, b); err != nil {
		return fmt.Errorf("alert rules:\n%w", err)
	}
	author := "file:" + s.cfg.AlertRulesFile
	vs, err := s.st.ListAlertRules(ctx)
	if err != nil {
		return fmt.Errorf("load alert rules: %w", err)
	}
	for _, v := range vs {
		if v.Author == author {
			if v.Text == string(b) {
				return nil
			}
			break
		}
	}
	_, err = s.saveAlertRules(ctx, string(b), author, "imported from the rules file at start", int64(store.AnyParent))
	return err
}

// saveAlertRules checks text, saves it as a new version after parent
// (store.AnyParent: any), puts it in force and audits alerts.save. An
// invalid text is refused with every problem (fault.Invalid), a stale
// parent with a conflict; nothing is saved then.
func (s *core) saveAlertRules(ctx context.Context, text, author, comment string, parent int64) (store.Policy, error) {
	if len(text) > alert.MaxRulesSize {
		return store.Policy{}, fault.Wrap(fault.Invalid, fmt.Errorf("alert rules are %d bytes; the limit is %d", len(text), alert.MaxRulesSize))
	}
	s.alertRulesMu.Lock()
	defer s.alertRulesMu.Unlock()
	rs, err := alert.Parse(sentAlertRulesName, []byte(text))
	if err != nil {
		return store.Policy{}, fault.Wrap(fault.Invalid, err)
	}
	v, err := s.st.SaveAlertRules(ctx, store.NewPolicy{Text: text, Author: author, Comment: comment,
		ParentID: store.PolicyID(parent), CreatedAt: time.Now().UTC()})
	if err != nil {
		return store.Policy{}, err
	}
	s.setRules(ctx, rs, time.Now())
	s.alerts.version.Store(int64(v.ID))
	s.audit(ctx, author, "alerts.save", fmt.Sprintf("alerts:v%d", v.ID), "", map[string]any{"comment": comment, "parent": v.ParentID})
	s.log.Info("alert rules saved", "version", v.ID, "by", author, "rules", len(rs.Rules))
	return v, nil
}

// AlertRules returns the stored version in force, with its text; version
// 0 with DefaultAlertRules when none is stored.
func (b Backend) AlertRules(ctx context.Context) (wire.PolicyVersion, error) {
	v, err := b.f.st.LatestAlertRules(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return wire.PolicyVersion{Text: DefaultAlertRules}, nil
	}
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(v, true), nil
}

// AlertRulesVersions lists the alert rules' versions, newest first,
// without their texts.
func (b Backend) AlertRulesVersions(ctx context.Context) ([]wire.PolicyVersion, error) {
	vs, err := b.f.st.ListAlertRules(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.PolicyVersion, len(vs))
	for i, v := range vs {
		out[i] = wirePolicy(v, false)
	}
	return out, nil
}

// AlertRulesVersion returns one version with its text.
func (b Backend) AlertRulesVersion(ctx context.Context, id int64) (wire.PolicyVersion, error) {
	v, err := b.f.st.AlertRulesVersion(ctx, store.PolicyID(id))
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(v, true), nil
}

// SetAlertRules saves and puts in force new alert rules on by's authority
// (see core.saveAlertRules).
func (b Backend) SetAlertRules(ctx context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error) {
	v, err := b.f.saveAlertRules(ctx, text, by.Actor, comment, parent)
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(v, false), nil
}
