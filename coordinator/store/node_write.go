package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// RenameNode implements Nodes.
func (t nodeTable) RenameNode(ctx context.Context, id NodeID, name string) error {
	err := checkName(name)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET name = ? WHERE id = ?`, name, id)
	}
	if isUniqueViolation(err) {
		err = ErrNameTaken
	}
	if err != nil {
		return fmt.Errorf("rename node %d to %q: %w", id, name, err)
	}
	return nil
}

// SetNodeTags implements Nodes.
func (t nodeTable) SetNodeTags(ctx context.Context, id NodeID, tags []string) error {
	err := checkTags(tags)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET tags_json = ?, user_id = NULL WHERE id = ?`,
			encodeSet(tags), id)
	}
	if err != nil {
		return fmt.Errorf("set tags of node %d: %w", id, err)
	}
	return nil
}

// SetNodeRiskClass implements Nodes.
func (t nodeTable) SetNodeRiskClass(ctx context.Context, id NodeID, class string) error {
	err := checkRiskClass(class)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET risk_class = ? WHERE id = ?`, class, id)
	}
	if err != nil {
		return fmt.Errorf("set risk class of node %d: %w", id, err)
	}
	return nil
}

// riskClassRE is what a risk class name looks like (as the policy's).
var riskClassRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// checkRiskClass accepts an empty class (unclassified) or a class name.
func checkRiskClass(class string) error {
	if class != "" && !riskClassRE.MatchString(class) {
		return fmt.Errorf("%w: risk class %q", ErrInvalid, class)
	}
	return nil
}

// SetHostInfo implements Nodes.
func (t nodeTable) SetHostInfo(ctx context.Context, id NodeID, h HostInfo) error {
	err := t.db.execOne(ctx, `UPDATE nodes SET hostname = ?, os = ?, version = ? WHERE id = ?`,
		h.Hostname, h.OS, h.Version, id)
	if err != nil {
		return fmt.Errorf("set host info of node %d: %w", id, err)
	}
	return nil
}

// RotateWGKey implements Nodes.
func (t nodeTable) RotateWGKey(ctx context.Context, id NodeID, r KeyRotation) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error { return rotateTx(ctx, tx, id, r) })
	if err != nil {
		return fmt.Errorf("rotate wireguard key of node %d: %w", id, err)
	}
	return nil
}

// rotateTx moves the current key to prev_wg_key and installs r.Key.
func rotateTx(ctx context.Context, tx *sql.Tx, id NodeID, r KeyRotation) error {
	if r.Key.IsZero() {
		return fmt.Errorf("%w: zero wireguard key", ErrInvalid)
	}
	n, err := nodeWhere(ctx, tx, "id = ?", id)
	if err != nil {
		return err
	}
	if err := checkRotationRule(ctx, tx, n, r.Rule); err != nil {
		return err
	}
	if n.WGKey == r.Key {
		return fmt.Errorf("%w: new wireguard key equals the current one", ErrInvalid)
	}
	if err := wgKeyFree(ctx, tx, r.Key, id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE nodes SET prev_wg_key = wg_key, prev_wg_key_until = ?,
		wg_key = ?, key_expiry = ? WHERE id = ?`,
		dbTime(r.OverlapUntil), r.Key[:], dbTime(r.Expiry), id)
	return err
}

// checkRotationRule refuses a rotation that rule does not allow for n.
func checkRotationRule(ctx context.Context, tx *sql.Tx, n Node, rule RotationRule) error {
	switch rule {
	case RotateDevice:
		if len(n.Tags) == 0 {
			return fmt.Errorf("%w: node %s is a person's node", ErrRotationRefused, n.Name)
		}
		if !n.KeyRevokedAt.IsZero() {
			return fmt.Errorf("%w: an admin revoked the key of node %s", ErrRotationRefused, n.Name)
		}
	case RotateLogin:
		if len(n.Tags) > 0 {
			return fmt.Errorf("%w: node %s is a device", ErrRotationRefused, n.Name)
		}
		return userActive(ctx, tx, n.UserID)
	}
	return nil
}

// SetKeyExpiry implements Nodes.
func (t nodeTable) SetKeyExpiry(ctx context.Context, id NodeID, expiry time.Time) error {
	err := t.db.execOne(ctx, `UPDATE nodes SET key_expiry = ? WHERE id = ?`, dbTime(expiry), id)
	if err != nil {
		return fmt.Errorf("set key expiry of node %d: %w", id, err)
	}
	return nil
}

// RevokeNodeKey implements Nodes.
func (t nodeTable) RevokeNodeKey(ctx context.Context, id NodeID, at time.Time) error {
	err := t.db.execOne(ctx, `UPDATE nodes SET key_expiry = ?, key_revoked_at = ? WHERE id = ?`,
		dbTime(at), dbTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke key of node %d: %w", id, err)
	}
	return nil
}

// ApproveNode implements Nodes.
func (t nodeTable) ApproveNode(ctx context.Context, id NodeID) error {
	err := t.db.execOne(ctx, `UPDATE nodes SET key_revoked_at = NULL WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("approve node %d: %w", id, err)
	}
	return nil
}

// SetEndpoints implements Nodes.
func (t nodeTable) SetEndpoints(ctx context.Context, id NodeID, eps []netip.AddrPort) error {
	err := checkEndpoints(eps)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET endpoints_json = ? WHERE id = ?`,
			encodeEndpoints(eps), id)
	}
	if err != nil {
		return fmt.Errorf("set endpoints of node %d: %w", id, err)
	}
	return nil
}

// SetHomeRelay implements Nodes.
func (t nodeTable) SetHomeRelay(ctx context.Context, id NodeID, relay string) error {
	if err := t.db.execOne(ctx, `UPDATE nodes SET home_relay = ? WHERE id = ?`, relay, id); err != nil {
		return fmt.Errorf("set home relay of node %d: %w", id, err)
	}
	return nil
}

// SetExposedPorts implements Nodes.
func (t nodeTable) SetExposedPorts(ctx context.Context, id NodeID, ports []uint16) error {
	err := checkPorts(ports)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET exposed_ports_json = ? WHERE id = ?`,
			encodePorts(ports), id)
	}
	if err != nil {
		return fmt.Errorf("set exposed ports of node %d: %w", id, err)
	}
	return nil
}

// SetPresence implements Nodes.
func (t nodeTable) SetPresence(ctx context.Context, id NodeID, lastSeen time.Time, online bool) error {
	err := t.db.execOne(ctx, `UPDATE nodes SET last_seen = ?, online = ? WHERE id = ?`,
		dbTime(lastSeen), online, id)
	if err != nil {
		return fmt.Errorf("set presence of node %d: %w", id, err)
	}
	return nil
}

// SetPresences implements Nodes.
func (t nodeTable) SetPresences(ctx context.Context, ps []Presence) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE nodes SET last_seen = ?, online = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range ps {
			if _, err := stmt.ExecContext(ctx, dbTime(p.LastSeen), p.Online, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set presence of %d nodes: %w", len(ps), err)
	}
	return nil
}

// DeleteNode implements Nodes.
func (t nodeTable) DeleteNode(ctx context.Context, id NodeID, reusableAfter time.Time) (Node, error) {
	var n Node
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = nodeWhere(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		var i uint32
		err = tx.QueryRowContext(ctx, `DELETE FROM nodes WHERE id = ? RETURNING addr_index`, id).Scan(&i)
		if err != nil {
			return err
		}
		return quarantineAddr(ctx, tx, i, reusableAfter)
	})
	if err != nil {
		return Node{}, fmt.Errorf("delete node %d: %w", id, err)
	}
	return n, nil
}
