package store

import (
	"context"
	"database/sql"
	"fmt"
)

// versionTable is an append-only table of versioned texts: the policy's
// (policy_versions) and the alert rules' (alert_rule_versions).
type versionTable struct {
	db *db
	// table is the table's name; what names its texts in errors.
	table, what string
}

// policyCols are the columns scanPolicy reads, in order.
const policyCols = `id, parent_id, text, author, comment, created_at`

// scanPolicy reads one row of policyCols.
func scanPolicy(sc scanner) (Policy, error) {
	var p Policy
	var created sql.NullInt64
	err := sc.Scan(&p.ID, &p.ParentID, &p.Text, &p.Author, &p.Comment, &created)
	p.CreatedAt = goTime(created)
	return p, err
}

// where returns the one version matching the query's tail.
func (t versionTable) where(ctx context.Context, q querier, tail string, args ...any) (Policy, error) {
	row := q.QueryRowContext(ctx, "SELECT "+policyCols+" FROM "+t.table+" "+tail, args...)
	p, err := scanPolicy(row)
	return p, notFound(err)
}

// save appends a version (see Policies.SavePolicy).
func (t versionTable) save(ctx context.Context, np NewPolicy) (Policy, error) {
	var p Policy
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var latest PolicyID
		err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM `+t.table).Scan(&latest)
		if err != nil {
			return err
		}
		if np.ParentID != AnyParent && np.ParentID != latest {
			return fmt.Errorf("%w: latest version is %d, not %d", ErrConflict, latest, np.ParentID)
		}
		id, err := insertID(ctx, tx, `INSERT INTO `+t.table+` (parent_id, text, author,
			comment, created_at) VALUES (?, ?, ?, ?, ?)`,
			latest, np.Text, np.Author, np.Comment, dbNow(np.CreatedAt))
		if err != nil {
			return err
		}
		p, err = t.where(ctx, tx, "WHERE id = ?", id)
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("save %s: %w", t.what, err)
	}
	return p, nil
}

// latest returns the newest version.
func (t versionTable) latest(ctx context.Context) (Policy, error) {
	p, err := t.where(ctx, t.db.r, "ORDER BY id DESC LIMIT 1")
	if err != nil {
		return Policy{}, fmt.Errorf("get latest %s: %w", t.what, err)
	}
	return p, nil
}

// get returns version id.
func (t versionTable) get(ctx context.Context, id PolicyID) (Policy, error) {
	p, err := t.where(ctx, t.db.r, "WHERE id = ?", id)
	if err != nil {
		return Policy{}, fmt.Errorf("get %s %d: %w", t.what, id, err)
	}
	return p, nil
}

// list returns every version, newest first.
func (t versionTable) list(ctx context.Context) ([]Policy, error) {
	ps, err := queryAll(ctx, t.db.r, scanPolicy,
		"SELECT "+policyCols+" FROM "+t.table+" ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.what, err)
	}
	return ps, nil
}

// policyTable implements Policies on SQLite and PostgreSQL.
type policyTable struct{ db *db }

func (t policyTable) v() versionTable { return versionTable{t.db, "policy_versions", "policy"} }

// SavePolicy implements Policies.
func (t policyTable) SavePolicy(ctx context.Context, np NewPolicy) (Policy, error) {
	return t.v().save(ctx, np)
}

// LatestPolicy implements Policies.
func (t policyTable) LatestPolicy(ctx context.Context) (Policy, error) { return t.v().latest(ctx) }

// Policy implements Policies.
func (t policyTable) Policy(ctx context.Context, id PolicyID) (Policy, error) {
	return t.v().get(ctx, id)
}

// ListPolicies implements Policies.
func (t policyTable) ListPolicies(ctx context.Context) ([]Policy, error) { return t.v().list(ctx) }

// alertRulesTable implements AlertRuleVersions on SQLite and PostgreSQL.
type alertRulesTable struct{ db *db }

func (t alertRulesTable) v() versionTable {
	return versionTable{t.db, "alert_rule_versions", "alert rules"}
}

// SaveAlertRules implements AlertRuleVersions.
func (t alertRulesTable) SaveAlertRules(ctx context.Context, np NewPolicy) (Policy, error) {
	return t.v().save(ctx, np)
}

// LatestAlertRules implements AlertRuleVersions.
func (t alertRulesTable) LatestAlertRules(ctx context.Context) (Policy, error) {
	return t.v().latest(ctx)
}

// AlertRulesVersion implements AlertRuleVersions.
func (t alertRulesTable) AlertRulesVersion(ctx context.Context, id PolicyID) (Policy, error) {
	return t.v().get(ctx, id)
}

// ListAlertRules implements AlertRuleVersions.
func (t alertRulesTable) ListAlertRules(ctx context.Context) ([]Policy, error) {
	return t.v().list(ctx)
}
