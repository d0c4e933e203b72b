package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// KeyRegistration is one registration with a pre-auth key in a batch
// (RegisterBatch): what RegisterWithAuthKey takes, and the audit events
// the registration writes when it succeeds.
type KeyRegistration struct {
	// KeyHash, Now and Node are RegisterWithAuthKey's arguments.
	KeyHash SecretHash
	Now     time.Time
	Node    NewNode
	// Audit, when set, makes the audit events to append, in the same
	// transaction, for the node as registered and the key as used. Each
	// event's Detail must be valid JSON or empty.
	Audit func(Node, AuthKey) []AuditEvent
}

// KeyRegistered is the result of one KeyRegistration: the node and key
// RegisterWithAuthKey would return, the audit events as appended, or the
// error it would return.
type KeyRegistered struct {
	Node   Node
	Key    AuthKey
	Audits []AuditEvent
	Err    error
}

// RegisterBatch registers every one of regs in one write transaction:
// one sync for all of them where RegisterWithAuthKey makes one each. Each
// registration is checked and written exactly as RegisterWithAuthKey
// does, in order, seeing the ones before it (a single-use key registers
// the first node that uses it, the others get ErrAuthKeyUsed), inside a
// savepoint of its own: one that fails changes nothing and costs the
// others nothing. Its audit events are appended in the same savepoint,
// so a registration and its audit rows are durable together. When the
// transaction itself fails (begin, commit, a savepoint), every
// registration that had not failed on its own gets that error, and none
// is stored. The result has one entry per registration, in order.
func (r registrar) RegisterBatch(ctx context.Context, regs []KeyRegistration) []KeyRegistered {
	out := make([]KeyRegistered, len(regs))
	pending := 0
	for i, g := range regs {
		if err := checkNewNode(g.Node); err != nil {
			out[i].Err = fmt.Errorf("node %q: %w", g.Node.Name, err)
			continue
		}
		pending++
	}
	if pending == 0 {
		return out
	}
	err := r.db.write(ctx, func(tx *sql.Tx) error {
		for i, g := range regs {
			if out[i].Err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT reg"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			res, err := registerOne(ctx, tx, r.db, g)
			if err != nil {
				if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT reg"); rbErr != nil {
					return fmt.Errorf("roll back to savepoint: %w", rbErr)
				}
				out[i].Err = fmt.Errorf("node %q: %w", g.Node.Name, err)
			} else {
				out[i] = res
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT reg"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		for i := range out {
			if out[i].Err == nil {
				out[i] = KeyRegistered{Err: fmt.Errorf("node %q: %w", regs[i].Node.Name, err)}
			}
		}
	}
	return out
}

// registerOne is one registration of a batch, inside its savepoint.
func registerOne(ctx context.Context, tx *sql.Tx, d *db, g KeyRegistration) (KeyRegistered, error) {
	var res KeyRegistered
	key, err := usableAuthKey(ctx, tx, g.KeyHash, g.Now)
	if err != nil {
		return res, err
	}
	o := owner{user: key.UserID, tags: key.Tags, ephemeral: key.Ephemeral, authKey: key.ID, risk: key.RiskClass}
	node, err := rekeyRevoked(ctx, tx, g.Node, o, key.CreatedAt)
	if errors.Is(err, ErrNotFound) {
		node, err = insertNode(ctx, tx, d, g.Now, g.Node, o)
	}
	if err != nil {
		return res, err
	}
	if err := useAuthKey(ctx, tx, &key); err != nil {
		return res, err
	}
	res.Node, res.Key = node, key
	if g.Audit == nil {
		return res, nil
	}
	for _, e := range g.Audit(node, key) {
		if len(e.Detail) > 0 && !json.Valid(e.Detail) {
			return res, fmt.Errorf("append audit %s: %w: detail is not JSON", e.Action, ErrInvalid)
		}
		e, err := appendChained(ctx, tx, e)
		if err != nil {
			return res, fmt.Errorf("append audit %s: %w", e.Action, err)
		}
		res.Audits = append(res.Audits, e)
	}
	return res, nil
}
