package store

import (
	"context"
	"database/sql"
	"fmt"
)

// policyTable implements Policies on SQLite.
type policyTable struct{ db *db }

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

// policyWhere returns the one policy version matching the query's tail.
func policyWhere(ctx context.Context, q querier, tail string, args ...any) (Policy, error) {
	row := q.QueryRowContext(ctx, "SELECT "+policyCols+" FROM policy_versions "+tail, args...)
	p, err := scanPolicy(row)
	return p, notFound(err)
}

// SavePolicy implements Policies.
func (t policyTable) SavePolicy(ctx context.Context, np NewPolicy) (Policy, error) {
	var p Policy
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var latest PolicyID
		err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM policy_versions`).Scan(&latest)
		if err != nil {
			return err
		}
		if np.ParentID != AnyParent && np.ParentID != latest {
			return fmt.Errorf("%w: latest version is %d, not %d", ErrConflict, latest, np.ParentID)
		}
		id, err := insertID(ctx, tx, `INSERT INTO policy_versions (parent_id, text, author,
			comment, created_at) VALUES (?, ?, ?, ?, ?)`,
			latest, np.Text, np.Author, np.Comment, dbNow(np.CreatedAt))
		if err != nil {
			return err
		}
		p, err = policyWhere(ctx, tx, "WHERE id = ?", id)
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("save policy: %w", err)
	}
	return p, nil
}

// LatestPolicy implements Policies.
func (t policyTable) LatestPolicy(ctx context.Context) (Policy, error) {
	p, err := policyWhere(ctx, t.db.r, "ORDER BY id DESC LIMIT 1")
	if err != nil {
		return Policy{}, fmt.Errorf("get latest policy: %w", err)
	}
	return p, nil
}

// Policy implements Policies.
func (t policyTable) Policy(ctx context.Context, id PolicyID) (Policy, error) {
	p, err := policyWhere(ctx, t.db.r, "WHERE id = ?", id)
	if err != nil {
		return Policy{}, fmt.Errorf("get policy %d: %w", id, err)
	}
	return p, nil
}

// ListPolicies implements Policies.
func (t policyTable) ListPolicies(ctx context.Context) ([]Policy, error) {
	ps, err := queryAll(ctx, t.db.r, scanPolicy,
		"SELECT "+policyCols+" FROM policy_versions ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return ps, nil
}
