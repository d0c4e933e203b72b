package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// rolloutTable implements Rollouts on SQLite and PostgreSQL.
type rolloutTable struct{ db *db }

const rolloutCols = `id, spec, status, pause_reason, wave, waves, gate_met_at, failed_ack, created_by, created_at, updated_at`

const rolloutDeviceCols = `rollout_id, node_id, wave, state, progress, reason, clock_at, updated_at`

// finalStates are the reported states that end a device's update.
var finalStates = []string{"healthy", "failed", "rolled_back"}

func scanRollout(sc scanner) (Rollout, error) {
	var r Rollout
	var met, created, updated sql.NullInt64
	err := sc.Scan(&r.ID, &r.Spec, &r.Status, &r.PauseReason, &r.Wave, &r.Waves, &met, &r.FailedAck, &r.CreatedBy, &created, &updated)
	r.GateMetAt, r.CreatedAt, r.UpdatedAt = goTime(met), goTime(created), goTime(updated)
	return r, err
}

func scanRolloutDevice(sc scanner) (RolloutDevice, error) {
	var d RolloutDevice
	var clock, updated sql.NullInt64
	err := sc.Scan(&d.Rollout, &d.Node, &d.Wave, &d.State, &d.Progress, &d.Reason, &clock, &updated)
	d.ClockAt, d.UpdatedAt = goTime(clock), goTime(updated)
	return d, err
}

func rolloutWhere(ctx context.Context, q querier, id RolloutID) (Rollout, error) {
	r, err := scanRollout(q.QueryRowContext(ctx, "SELECT "+rolloutCols+" FROM rollouts WHERE id = ?", id))
	return r, notFound(err)
}

func rolloutDeviceWhere(ctx context.Context, q querier, id RolloutID, node NodeID) (RolloutDevice, error) {
	d, err := scanRolloutDevice(q.QueryRowContext(ctx, "SELECT "+rolloutDeviceCols+" FROM rollout_devices WHERE rollout_id = ? AND node_id = ?", id, node))
	return d, notFound(err)
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// anys turns ss into query arguments.
func anys[T any](ss []T) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func checkWaves(waves [][]NodeID) error {
	if len(waves) == 0 {
		return fmt.Errorf("%w: a rollout needs a wave", ErrInvalid)
	}
	seen := map[NodeID]bool{}
	for i, w := range waves {
		if len(w) == 0 {
			return fmt.Errorf("%w: wave %d is empty", ErrInvalid, i)
		}
		for _, n := range w {
			if seen[n] {
				return fmt.Errorf("%w: node %d in two waves", ErrInvalid, n)
			}
			seen[n] = true
		}
	}
	return nil
}

// CreateRollout implements Rollouts.
func (t rolloutTable) CreateRollout(ctx context.Context, nr NewRollout) (Rollout, error) {
	if err := checkWaves(nr.Waves); err != nil {
		return Rollout{}, fmt.Errorf("create rollout: %w", err)
	}
	at := dbNow(nr.CreatedAt)
	var r Rollout
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		id, err := insertID(ctx, tx, `INSERT INTO rollouts (spec, status, waves, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, nr.Spec, RolloutRunning, len(nr.Waves), nr.CreatedBy, at, at)
		if err != nil {
			return err
		}
		for i, w := range nr.Waves {
			state, clock := DevicePending, any(nil)
			if i == 0 {
				state, clock = DeviceAssigned, at
			}
			for _, n := range w {
				if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_devices (rollout_id, node_id, wave, state, clock_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?)`, id, n, i, state, clock, clock); err != nil {
					return err
				}
			}
		}
		r, err = rolloutWhere(ctx, tx, RolloutID(id))
		return err
	})
	if err != nil {
		return Rollout{}, fmt.Errorf("create rollout: %w", err)
	}
	return r, nil
}

// Rollout implements Rollouts.
func (t rolloutTable) Rollout(ctx context.Context, id RolloutID) (Rollout, error) {
	r, err := rolloutWhere(ctx, t.db.r, id)
	if err != nil {
		return Rollout{}, fmt.Errorf("get rollout %d: %w", id, err)
	}
	return r, nil
}

// ListRollouts implements Rollouts.
func (t rolloutTable) ListRollouts(ctx context.Context) ([]Rollout, error) {
	rs, err := queryAll(ctx, t.db.r, scanRollout, "SELECT "+rolloutCols+" FROM rollouts ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return rs, nil
}

// RolloutDevices implements Rollouts.
func (t rolloutTable) RolloutDevices(ctx context.Context, id RolloutID, wave int) ([]RolloutDevice, error) {
	q, args := "SELECT "+rolloutDeviceCols+" FROM rollout_devices WHERE rollout_id = ?", []any{id}
	if wave >= 0 {
		q, args = q+" AND wave = ?", append(args, wave)
	}
	ds, err := queryAll(ctx, t.db.r, scanRolloutDevice, q+" ORDER BY wave, node_id", args...)
	if err != nil {
		return nil, fmt.Errorf("list devices of rollout %d: %w", id, err)
	}
	return ds, nil
}

// RolloutWaveStates implements Rollouts.
func (t rolloutTable) RolloutWaveStates(ctx context.Context, id RolloutID, wave int) (map[string]int, error) {
	rows, err := t.db.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM rollout_devices WHERE rollout_id = ? AND wave = ? GROUP BY state`, id, wave)
	if err != nil {
		return nil, fmt.Errorf("count wave %d of rollout %d: %w", wave, id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count wave %d of rollout %d: %w", wave, id, err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// NodeRollouts implements Rollouts.
func (t rolloutTable) NodeRollouts(ctx context.Context, node NodeID) ([]RolloutDevice, error) {
	skip := append([]string{DevicePending}, finalStates...)
	args := append([]any{node, RolloutRunning, RolloutPaused}, anys(skip)...)
	ds, err := queryAll(ctx, t.db.r, scanRolloutDevice, `SELECT d.`+strings.ReplaceAll(rolloutDeviceCols, ", ", ", d.")+`
		FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
		WHERE d.node_id = ? AND r.status IN (?, ?) AND d.state NOT IN (`+placeholders(len(skip))+`)
		ORDER BY d.rollout_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list rollouts of node %d: %w", node, err)
	}
	return ds, nil
}

// UpdateRollout implements Rollouts.
func (t rolloutTable) UpdateRollout(ctx context.Context, id RolloutID, change func(*Rollout) error) (Rollout, error) {
	var r Rollout
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		old, err := rolloutWhere(ctx, tx, id)
		if err != nil {
			return err
		}
		r = old
		if err := change(&r); err != nil {
			return err
		}
		if r.UpdatedAt.IsZero() || r.UpdatedAt.Equal(old.UpdatedAt) {
			r.UpdatedAt = time.Now()
		}
		at := r.UpdatedAt.UnixMicro()
		if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET status = ?, pause_reason = ?, wave = ?, gate_met_at = ?,
			failed_ack = ?, updated_at = ? WHERE id = ?`, r.Status, r.PauseReason, r.Wave, dbTime(r.GateMetAt), r.FailedAck, at, id); err != nil {
			return err
		}
		if r.Wave != old.Wave {
			if _, err := tx.ExecContext(ctx, `UPDATE rollout_devices SET state = ?, clock_at = ?, updated_at = ?
				WHERE rollout_id = ? AND wave = ? AND state = ?`, DeviceAssigned, at, at, id, r.Wave, DevicePending); err != nil {
				return err
			}
		}
		if old.Status == RolloutPaused && r.Status == RolloutRunning {
			if _, err := tx.ExecContext(ctx, `UPDATE rollout_devices SET clock_at = ?
				WHERE rollout_id = ? AND wave = ? AND state = ?`, at, id, r.Wave, DeviceAssigned); err != nil {
				return err
			}
		}
		r, err = rolloutWhere(ctx, tx, id)
		return err
	})
	if err != nil {
		return Rollout{}, fmt.Errorf("update rollout %d: %w", id, err)
	}
	return r, nil
}

// HandOut implements Rollouts.
func (t rolloutTable) HandOut(ctx context.Context, id RolloutID, node NodeID, at time.Time, capacity int) (bool, error) {
	handed := false
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		d, err := rolloutDeviceWhere(ctx, tx, id, node)
		if err != nil {
			return err
		}
		if d.State != DeviceAssigned {
			return fmt.Errorf("%w: the device is %s", ErrConflict, d.State)
		}
		if capacity > 0 {
			var busy int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
				WHERE d.state IN (?, ?) AND r.status IN (?, ?)`, DeviceSent, DeviceDownloading, RolloutRunning, RolloutPaused).Scan(&busy)
			if err != nil || busy >= capacity {
				return err
			}
		}
		handed = true
		_, err = tx.ExecContext(ctx, `UPDATE rollout_devices SET state = ?, clock_at = ?, updated_at = ?
			WHERE rollout_id = ? AND node_id = ?`, DeviceSent, dbNow(at), dbNow(at), id, node)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("hand out rollout %d to node %d: %w", id, node, err)
	}
	return handed, nil
}

// UpdateRolloutDevice implements Rollouts.
func (t rolloutTable) UpdateRolloutDevice(ctx context.Context, id RolloutID, node NodeID, u DeviceUpdate) (RolloutDevice, error) {
	var d RolloutDevice
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		cur, err := rolloutDeviceWhere(ctx, tx, id, node)
		if err != nil {
			return err
		}
		if !slices.Contains(u.From, cur.State) {
			return fmt.Errorf("%w: the device is %s", ErrConflict, cur.State)
		}
		clock := dbTime(cur.ClockAt)
		if u.Clock {
			clock = dbNow(u.At)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rollout_devices SET state = ?, progress = ?, reason = ?, clock_at = ?, updated_at = ?
			WHERE rollout_id = ? AND node_id = ?`, u.State, u.Progress, u.Reason, clock, dbNow(u.At), id, node); err != nil {
			return err
		}
		d, err = rolloutDeviceWhere(ctx, tx, id, node)
		return err
	})
	if err != nil {
		return RolloutDevice{}, fmt.Errorf("update node %d in rollout %d: %w", node, id, err)
	}
	return d, nil
}
