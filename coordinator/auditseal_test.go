package coordinator

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/wardnet/ward/auditchain"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// auditCoord is a coordinator with a few audited actions and two
// checkpoints, and a raw SQL handle on its database, as an intruder with
// the database file would have.
func auditCoord(t *testing.T) (*testCoord, *sql.DB) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:camera"}, "cam")
	c.mustRegister([]string{"tag:operator"}, "op")
	if err := c.srv.checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.srv.audit(context.Background(), "user:alice@example.com", "policy.save", "policy", "192.0.2.1", map[string]any{"v": 2})
	db, err := sql.Open("sqlite", filepath.Join(c.srv.cfg.DataDir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return c, db
}

func (c *testCoord) verifyAudit() wire.AuditVerify {
	c.t.Helper()
	var v wire.AuditVerify
	if code := c.admin("GET", wire.PathAdminAuditVerify, nil, &v); code != 200 {
		c.t.Fatalf("verify: %d", code)
	}
	return v
}

// auditIDs returns the IDs of the events whose action is action.
func auditIDs(t *testing.T, db *sql.DB, action string) []int64 {
	rows, err := db.Query(`SELECT id FROM audit_events WHERE action = ? ORDER BY id`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// TestAuditVerifyFindsTamperedRow: a valid chain verifies; an UPDATE of
// one row of the audit store, or a DELETE of one, made with SQL behind
// the coordinator's back, is found, and verify names the first entry that
// does not fit.
func TestAuditVerifyFindsTamperedRow(t *testing.T) {
	c, db := auditCoord(t)
	v := c.verifyAudit()
	if !v.OK || v.Checkpoints < 2 || v.Legacy != 0 || v.Key == "" {
		t.Fatalf("untouched log: %+v", v)
	}
	reg := auditIDs(t, db, "node.register")
	if len(reg) < 2 {
		t.Fatalf("register events: %v", reg)
	}
	// Edit the first registration's actor.
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'user:mallory@example.com' WHERE id = ?`, reg[0]); err != nil {
		t.Fatal(err)
	}
	v = c.verifyAudit()
	if v.OK || v.BadID != reg[0] || !strings.Contains(v.Problem, auditchain.ErrBadHash.Error()) {
		t.Fatalf("after an UPDATE of entry %d: %+v", reg[0], v)
	}
	// In another log, delete the second registration: the entry after
	// it no longer follows.
	c2, db2 := auditCoord(t)
	reg = auditIDs(t, db2, "node.register")
	if _, err := db2.Exec(`DELETE FROM audit_events WHERE id = ?`, reg[1]); err != nil {
		t.Fatal(err)
	}
	v = c2.verifyAudit()
	if v.OK || v.BadID != reg[1]+1 || !strings.Contains(v.Problem, auditchain.ErrBroken.Error()) {
		t.Fatalf("after a DELETE of entry %d: %+v", reg[1], v)
	}
}

// TestAuditVerifyFindsACutTail: deleting the newest events, checkpoints
// included, leaves a chain that fits but whose last checkpoint is too old
// for a running coordinator.
func TestAuditVerifyFindsACutTail(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.AuditCheckpointEvery = time.Hour })
	v, err := c.srv.verifyAudit(context.Background(), time.Now().Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if v.OK || !strings.Contains(v.Problem, "no checkpoint since") {
		t.Fatalf("four hours without a checkpoint: %+v", v)
	}
	if v, _ := c.srv.verifyAudit(context.Background(), time.Now()); !v.OK {
		t.Fatalf("fresh log: %+v", v)
	}
}

// TestAuditVerifyAcrossReplicas: two coordinators on one PostgreSQL,
// sharing the audit key file, append events and checkpoints to one
// chain at once; verify on either accepts the whole log, checkpoints of
// both included.
func TestAuditVerifyAcrossReplicas(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j := range 5 {
				c.srv.audit(ctx, "user:alice@example.com", "policy.save", "policy", "192.0.2.1", map[string]any{"replica": i, "n": j})
				if err := c.srv.checkpoint(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i, c := range cs {
		if v := c.verifyAudit(); !v.OK || v.Checkpoints < 12 || v.Legacy != 0 {
			t.Errorf("verify on replica %d: %+v", i, v)
		}
	}
}
