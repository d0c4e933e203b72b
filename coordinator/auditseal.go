package coordinator

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/auditchain"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// AuditKeyFile is the file in the data directory holding the Ed25519 key
// (its seed, hex) that signs the audit log's checkpoints, unless
// Config.AuditKeyFile names another. Made at first start, mode 0600; keep
// it with the database's backups.
const AuditKeyFile = "audit-signing-key"

// auditKeyPath is where the checkpoint key is: Config.AuditKeyFile, else
// AuditKeyFile in the data directory.
func (c *Config) auditKeyPath() string {
	if c.AuditKeyFile != "" {
		return c.AuditKeyFile
	}
	return filepath.Join(c.DataDir, AuditKeyFile)
}

// loadAuditKey reads the checkpoint key from path, making it at first
// start (coordinators sharing a path: start the first alone, or make the
// file beforehand).
func loadAuditKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("make audit key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("write audit key: %w", err)
		}
		_, err = f.WriteString(hex.EncodeToString(seed) + "\n")
		if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("write audit key: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("read audit key %s: not a hex Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// checkpoint appends a checkpoint signing the chain's head, even when
// nothing happened since the last one.
func (s *core) checkpoint(ctx context.Context) error {
	seal := func(head string, at time.Time) (json.RawMessage, error) {
		return json.Marshal(auditchain.NewCheckpoint(s.auditKey, head, at))
	}
	_, err := s.st.AppendAudit(ctx, store.AuditEvent{Actor: "system", Action: auditchain.CheckpointAction, Seal: seal})
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return nil
}

// checkpointLoop appends a checkpoint every AuditCheckpointEvery until
// ctx is done (New appends the first), when this coordinator runs the
// job: with several on one database, one appends them.
func (s *core) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.AuditCheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.runsJob(jobAuditCheckpoint) {
			continue // another coordinator on the database appends them
		}
		if err := s.checkpoint(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("audit checkpoint failed", "err", err)
		}
	}
}

// verifyAudit checks the stored audit log's chain and checkpoints with
// the coordinator's own key, and that the last checkpoint is recent (an
// old one means the log's tail may have been cut).
func (s *core) verifyAudit(ctx context.Context, now time.Time) (wire.AuditVerify, error) {
	evs, err := s.st.ListAudit(ctx, store.AuditFilter{Order: store.OldestFirst})
	if err != nil {
		return wire.AuditVerify{}, err
	}
	slices.SortFunc(evs, func(a, b store.AuditEvent) int { return cmp.Compare(a.ID, b.ID) })
	v := auditchain.NewVerifier(s.auditKey.Public().(ed25519.PublicKey))
	for _, e := range evs {
		v.Add(auditEntry(e))
	}
	out := verifyResult(v.Report())
	if late := 3 * s.cfg.AuditCheckpointEvery; out.OK && now.Sub(out.LastCheckpoint) > late {
		out.OK = false
		out.Problem = fmt.Sprintf("no checkpoint since %s: events after it may have been removed",
			out.LastCheckpoint.Format(time.RFC3339))
		if len(evs) > 0 {
			out.BadID = int64(evs[len(evs)-1].ID)
		}
	}
	return out, nil
}

// auditEntry is e as package auditchain checks it.
func auditEntry(e store.AuditEvent) auditchain.Entry {
	return auditchain.Entry{ID: int64(e.ID), Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
		Source: e.Source, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

// verifyResult is r as the admin API answers it.
func verifyResult(r auditchain.Report) wire.AuditVerify {
	out := wire.AuditVerify{OK: r.OK(), Entries: r.Entries, Legacy: r.Legacy, Checkpoints: r.Checkpoints,
		LastCheckpoint: r.Last, Key: r.Key, BadID: r.BadID}
	if r.Problem != nil {
		out.Problem = r.Problem.Error()
	}
	return out
}
