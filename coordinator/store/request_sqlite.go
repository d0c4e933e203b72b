package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// requestTable implements AccessRequests on SQLite and PostgreSQL.
type requestTable struct{ db *db }

const requestCols = `id, user_id, node_id, proto, port, duration_ms, reason, status, created_at,
	decided_by, decided_at, expires_at`

func scanRequest(sc scanner) (AccessRequest, error) {
	var r AccessRequest
	var dur int64
	var created, decided, expires sql.NullInt64
	err := sc.Scan(&r.ID, &r.UserID, &r.NodeID, &r.Proto, &r.Port, &dur, &r.Reason, &r.Status, &created,
		&r.DecidedBy, &decided, &expires)
	if err != nil {
		return AccessRequest{}, err
	}
	r.Duration = time.Duration(dur) * time.Millisecond
	r.CreatedAt, r.DecidedAt, r.Expires = goTime(created), goTime(decided), goTime(expires)
	return r, nil
}

func requestWhere(ctx context.Context, q querier, where string, args ...any) (AccessRequest, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, "SELECT "+requestCols+" FROM access_requests WHERE "+where, args...))
	return r, notFound(err)
}

// CreateAccessRequest implements AccessRequests.
func (t requestTable) CreateAccessRequest(ctx context.Context, nr NewAccessRequest) (AccessRequest, error) {
	if nr.UserID == 0 || nr.NodeID == 0 || nr.Port == 0 || nr.Duration <= 0 {
		return AccessRequest{}, fmt.Errorf("create access request: %w: user, node, port and a positive duration are required", ErrInvalid)
	}
	var r AccessRequest
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		id, err := insertID(ctx, tx, `INSERT INTO access_requests (user_id, node_id, proto, port, duration_ms,
			reason, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			nr.UserID, nr.NodeID, nr.Proto, nr.Port, nr.Duration.Milliseconds(), nr.Reason, RequestPending, dbNow(nr.CreatedAt))
		if err != nil {
			return err
		}
		r, err = requestWhere(ctx, tx, "id = ?", id)
		return err
	})
	if err != nil {
		return AccessRequest{}, fmt.Errorf("create access request: %w", err)
	}
	return r, nil
}

// AccessRequest implements AccessRequests.
func (t requestTable) AccessRequest(ctx context.Context, id AccessRequestID) (AccessRequest, error) {
	r, err := requestWhere(ctx, t.db.r, "id = ?", id)
	if err != nil {
		return AccessRequest{}, fmt.Errorf("get access request %d: %w", id, err)
	}
	return r, nil
}

// ListAccessRequests implements AccessRequests.
func (t requestTable) ListAccessRequests(ctx context.Context) ([]AccessRequest, error) {
	rows, err := t.db.r.QueryContext(ctx, "SELECT "+requestCols+" FROM access_requests ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	defer rows.Close()
	var out []AccessRequest
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list access requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// decisionFrom is the status each decision moves a request from.
var decisionFrom = map[RequestStatus]RequestStatus{
	RequestApproved: RequestPending, RequestDenied: RequestPending, RequestRevoked: RequestApproved,
}

// DecideAccessRequest implements AccessRequests.
func (t requestTable) DecideAccessRequest(ctx context.Context, id AccessRequestID, d RequestDecision) (AccessRequest, error) {
	from, ok := decisionFrom[d.Status]
	if !ok {
		return AccessRequest{}, fmt.Errorf("decide access request %d: %w: status %q", id, ErrInvalid, d.Status)
	}
	var r AccessRequest
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		cur, err := requestWhere(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		if cur.Status != from {
			return fmt.Errorf("%w: the request is %s", ErrConflict, cur.Status)
		}
		expires := cur.Expires
		if d.Status == RequestApproved {
			expires = d.Expires
		}
		if d.Status == RequestRevoked {
			expires = d.At // the access ends now
		}
		_, err = tx.ExecContext(ctx, `UPDATE access_requests SET status = ?, decided_by = ?, decided_at = ?, expires_at = ?
			WHERE id = ?`, d.Status, d.By, dbNow(d.At), dbTime(expires), id)
		if err != nil {
			return err
		}
		r, err = requestWhere(ctx, tx, "id = ?", id)
		return err
	})
	if err != nil {
		return AccessRequest{}, fmt.Errorf("decide access request %d: %w", id, err)
	}
	return r, nil
}
