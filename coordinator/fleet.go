package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// fleet carries out the admins' fleet operations: nodes (expire, approve,
// tag, remove), users (disable, rebind an email), pre-auth and API keys,
// and the policy (check, save, reload from its file). Backend offers them
// to the admin front ends by name and id; the methods here work on store
// ids and records. Every change is audited.
type fleet struct {
	*core
	// policyMu serializes policy changes (file reloads and admin saves).
	policyMu sync.Mutex
	// adminSessions ends a person's admin sessions; nil until
	// SetAdminSessions.
	adminSessions atomic.Pointer[adminSessionsBox]
}

// BootstrapKeyFile is the file in the data dir holding the first API key.
const BootstrapKeyFile = "admin-api-key"

// bootstrapAPIKey creates the first API key when none exists and writes it
// to a 0600 file in the data directory.
func (s *fleet) bootstrapAPIKey(ctx context.Context) error {
	keys, err := s.st.ListAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("list api keys: %w", err)
	}
	if len(keys) > 0 {
		return nil
	}
	secret, k, err := s.createAPIKey(ctx, "bootstrap key made at first start", "system", 0, time.Time{}, []string{admin.ScopeAdmin})
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, BootstrapKeyFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write bootstrap api key: %w", err)
	}
	s.log.Info("first start: wrote an admin API key", "path", path, "key_prefix", k.Prefix)
	return nil
}

// createAuthKey checks the tags against the running policy and creates a
// pre-auth key on the authority of user creator (zero: the system),
// audited with the request's source from; the secret is set in the result
// only.
func (s *fleet) createAuthKey(ctx context.Context, req wire.CreateAuthKeyRequest, actor string, creator store.UserID, from string) (wire.AuthKey, error) {
	if len(req.Tags) == 0 {
		return wire.AuthKey{}, fmt.Errorf("%w: a pre-auth key needs at least one tag (such as tag:camera): the devices it registers are owned by their tags", errBadRequest)
	}
	if err := s.checkTags(req.Tags); err != nil {
		return wire.AuthKey{}, err
	}
	if err := s.checkRiskClass(req.RiskClass); err != nil {
		return wire.AuthKey{}, err
	}
	now := time.Now().UTC()
	exp, err := parseExpiry(req.Expiry, 24*time.Hour, now)
	if err != nil {
		return wire.AuthKey{}, err
	}
	secret, prefix, err := newSecret("wpk")
	if err != nil {
		return wire.AuthKey{}, err
	}
	k, err := s.st.CreateAuthKey(ctx, store.NewAuthKey{Hash: hashSecret(secret), Prefix: prefix, Tags: req.Tags,
		Reusable: req.Reusable, Ephemeral: req.Ephemeral, Expiry: exp, CreatedBy: actor, CreatorUserID: creator, CreatedAt: now,
		RiskClass: req.RiskClass})
	if err != nil {
		return wire.AuthKey{}, err // the store says "create auth key"
	}
	s.audit(ctx, actor, "authkey.create", fmt.Sprintf("authkey:%d", k.ID), from,
		map[string]any{"prefix": k.Prefix, "tags": k.Tags, "reusable": k.Reusable, "ephemeral": k.Ephemeral, "expiry": k.Expiry, "risk_class": k.RiskClass})
	out := wireAuthKey(k)
	out.Key = secret
	return out, nil
}
