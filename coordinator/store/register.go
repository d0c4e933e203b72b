package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// registrar implements Registration on SQLite.
type registrar struct{ db *db }

// owner is what a new node takes from its credential.
type owner struct {
	user      UserID
	tags      []string
	ephemeral bool
	authKey   AuthKeyID
	// risk is the pre-auth key's risk class; empty leaves a re-keyed
	// node's class as it was.
	risk string
}

// RegisterWithAuthKey implements Registration.
func (r registrar) RegisterWithAuthKey(ctx context.Context, h SecretHash, now time.Time, n NewNode) (Node, AuthKey, error) {
	var node Node
	var key AuthKey
	err := checkNewNode(n)
	if err == nil {
		err = r.db.write(ctx, func(tx *sql.Tx) error {
			res, err := registerOne(ctx, tx, r.db, KeyRegistration{KeyHash: h, Now: now, Node: n})
			node, key = res.Node, res.Key
			return err
		})
	}
	if err != nil {
		return Node{}, AuthKey{}, fmt.Errorf("node %q: %w", n.Name, err)
	}
	return node, key, nil
}

// RegisterWithUser implements Registration.
func (r registrar) RegisterWithUser(ctx context.Context, user UserID, now time.Time, n NewNode) (Node, error) {
	var node Node
	err := checkNewNode(n)
	if err == nil && user == 0 {
		err = fmt.Errorf("%w: no user", ErrInvalid)
	}
	if err == nil {
		err = r.db.write(ctx, func(tx *sql.Tx) error {
			var err error
			node, err = insertNode(ctx, tx, r.db, now, n, owner{user: user})
			return err
		})
	}
	if err != nil {
		return Node{}, fmt.Errorf("node %q of user %d: %w", n.Name, user, err)
	}
	return node, nil
}

// rekeyRevoked gives the node with n's machine key, if an admin revoked
// its key, a new WireGuard key and expiry, and clears the revocation. The
// pre-auth key (made at keyMade, owning o) must be newer than the
// revocation (ErrAuthKeyBeforeRevocation: the key the node had, or one
// that leaked with it, cannot undo the admin's act) and carry the node's
// own tags (ErrInvalid: a key for other tags would take over the node's
// name and addresses). It returns ErrNotFound when no node has the machine
// key and ErrMachineExists when that node is not revoked.
func rekeyRevoked(ctx context.Context, tx *sql.Tx, n NewNode, o owner, keyMade time.Time) (Node, error) {
	old, err := nodeWhere(ctx, tx, "machine_key = ?", n.MachineKey[:])
	if err != nil {
		return Node{}, err
	}
	switch {
	case old.KeyRevokedAt.IsZero():
		return Node{}, ErrMachineExists
	case keyMade.Before(old.KeyRevokedAt):
		return Node{}, fmt.Errorf("%w: node %s was revoked at %s; make a new pre-auth key", ErrAuthKeyBeforeRevocation,
			old.Name, old.KeyRevokedAt.UTC().Format(time.RFC3339))
	case o.user != 0 || !slices.Equal(o.tags, old.Tags):
		return Node{}, fmt.Errorf("%w: the pre-auth key's tags %v are not node %s's %v; remove the node to register it with other tags",
			ErrInvalid, o.tags, old.Name, old.Tags)
	}
	if err := wgKeyFree(ctx, tx, n.WGKey, 0); err != nil {
		return Node{}, err
	}
	if err := userActive(ctx, tx, o.user); err != nil {
		return Node{}, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE nodes SET hostname = ?, os = ?, version = ?, wg_key = ?,
		prev_wg_key = NULL, prev_wg_key_until = NULL, key_expiry = ?, key_revoked_at = NULL,
		user_id = ?, tags_json = ?, ephemeral = ?, auth_key_id = ?,
		risk_class = CASE WHEN ? = '' THEN risk_class ELSE ? END WHERE id = ?`,
		n.Hostname, n.OS, n.Version, n.WGKey[:], dbTime(n.KeyExpiry),
		dbID(o.user), encodeSet(o.tags), o.ephemeral, dbID(o.authKey), o.risk, o.risk, old.ID)
	if err != nil {
		return Node{}, fmt.Errorf("re-key revoked node %d: %w", old.ID, err)
	}
	return nodeWhere(ctx, tx, "id = ?", old.ID)
}

// useAuthKey counts one use of k. The update is conditional on the key
// still being usable (reusable, or not used yet), so that a single-use key
// registers one node even if two transactions saw it unused; it returns
// ErrAuthKeyUsed when the condition no longer holds.
func useAuthKey(ctx context.Context, tx *sql.Tx, k *AuthKey) error {
	err := tx.QueryRowContext(ctx, `UPDATE auth_keys SET use_count = use_count + 1
		WHERE id = ? AND (reusable OR use_count = 0) RETURNING use_count`, k.ID).Scan(&k.UseCount)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrAuthKeyUsed
	}
	return err
}

// usableAuthKey returns the pre-auth key with hash h if it may register a
// node as of now.
func usableAuthKey(ctx context.Context, tx *sql.Tx, h SecretHash, now time.Time) (AuthKey, error) {
	k, err := authKeyWhere(ctx, tx, "hash = ?", h[:])
	switch {
	case errors.Is(err, ErrNotFound):
		return AuthKey{}, ErrAuthKeyNotFound
	case err != nil:
		return AuthKey{}, err
	case !k.RevokedAt.IsZero():
		return AuthKey{}, ErrAuthKeyRevoked
	case !k.Expiry.IsZero() && !now.Before(k.Expiry):
		return AuthKey{}, ErrAuthKeyExpired
	case !k.Reusable && k.UseCount > 0:
		return AuthKey{}, ErrAuthKeyUsed
	}
	if err := userActive(ctx, tx, k.CreatorUserID); err != nil {
		if errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrNotFound) {
			return AuthKey{}, fmt.Errorf("%w: auth key %s: %w", ErrKeyCreatorDisabled, k.Prefix, err)
		}
		return AuthKey{}, err
	}
	return k, nil
}

// insertNode checks the machine key and the owner, then inserts the node
// with a unique name and fresh addresses, and returns it as stored.
func insertNode(ctx context.Context, tx *sql.Tx, d *db, now time.Time, n NewNode, o owner) (Node, error) {
	if err := machineFree(ctx, tx, n.MachineKey); err != nil {
		return Node{}, err
	}
	if err := wgKeyFree(ctx, tx, n.WGKey, 0); err != nil {
		return Node{}, err
	}
	if err := userActive(ctx, tx, o.user); err != nil {
		return Node{}, err
	}
	name, err := uniqueName(ctx, d, tx, n.Name)
	if err != nil {
		return Node{}, err
	}
	i, err := allocateAddr(ctx, tx, now)
	if err != nil {
		return Node{}, err
	}
	id, err := insertNodeRow(ctx, tx, nodeInsert{n: n, o: o, name: name, addr: i, ula: d.ula, now: now})
	if err != nil {
		return Node{}, err
	}
	return nodeWhere(ctx, tx, "id = ?", id)
}

// machineFree returns ErrMachineExists if a node has machine key k.
func machineFree(ctx context.Context, tx *sql.Tx, k MachinePublic) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE machine_key = ?`, k[:]).Scan(&n)
	if err != nil {
		return fmt.Errorf("check machine key: %w", err)
	}
	if n > 0 {
		return ErrMachineExists
	}
	return nil
}

// wgKeyFree returns ErrDuplicate if a node other than except has k as its
// WireGuard key.
func wgKeyFree(ctx context.Context, tx *sql.Tx, k WGPublic, except NodeID) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE wg_key = ? AND id <> ?`,
		k[:], except).Scan(&n)
	if err != nil {
		return fmt.Errorf("check wireguard key: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: wireguard key in use by another node", ErrDuplicate)
	}
	return nil
}

// userActive checks that user (if not 0) exists and is not disabled.
func userActive(ctx context.Context, tx *sql.Tx, user UserID) error {
	if user == 0 {
		return nil
	}
	var disabled bool
	err := tx.QueryRowContext(ctx, `SELECT disabled FROM users WHERE id = ?`, user).Scan(&disabled)
	if err != nil {
		return fmt.Errorf("get user %d: %w", user, notFound(err))
	}
	if disabled {
		return fmt.Errorf("user %d: %w", user, ErrUserDisabled)
	}
	return nil
}

// nodeInsert is everything a new nodes row is made of.
type nodeInsert struct {
	n    NewNode
	o    owner
	name string
	addr uint32
	ula  netip.Prefix
	now  time.Time
}

// insertNodeRow inserts the row and returns its ID.
func insertNodeRow(ctx context.Context, tx *sql.Tx, in nodeInsert) (NodeID, error) {
	v4, v6 := addrsFor(in.addr, in.ula)
	n, o := in.n, in.o
	id, err := insertID(ctx, tx, `INSERT INTO nodes (name, hostname, os, version,
		machine_key, wg_key, key_expiry, addr_index, ipv4, ipv6, user_id, tags_json, ephemeral,
		auth_key_id, exposed_ports_json, endpoints_json, created_at, risk_class)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.name, n.Hostname, n.OS, n.Version, n.MachineKey[:], n.WGKey[:], dbTime(n.KeyExpiry),
		in.addr, v4.String(), v6.String(), dbID(o.user), encodeSet(o.tags), o.ephemeral,
		dbID(o.authKey), encodePorts(n.ExposedPorts), encodeEndpoints(n.Endpoints), dbNow(in.now), o.risk)
	if err != nil {
		return 0, fmt.Errorf("insert node: %w", err)
	}
	return NodeID(id), err
}
