package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// changeChannel is the PostgreSQL NOTIFY channel coordinators announce
// their changes on.
const changeChannel = "ward_changes"

// relistenDelay is how long Follow waits before it connects again after
// losing its listening connection.
const relistenDelay = time.Second

// ChangeKind says what a Change is about.
type ChangeKind string

// The kinds of Change.
const (
	// ChangeNode: node Change.Node changed or was removed; read it again.
	ChangeNode ChangeKind = "node"
	// ChangeUsers: users (emails, groups, disabled) changed.
	ChangeUsers ChangeKind = "users"
	// ChangePolicy: a new policy version was saved.
	ChangePolicy ChangeKind = "policy"
	// ChangeRelays: the standalone relays changed.
	ChangeRelays ChangeKind = "relays"
	// ChangeRequests: an access request was made or decided; read the
	// requests again.
	ChangeRequests ChangeKind = "requests"
	// ChangeResync: notifications may have been missed (the listening
	// connection was lost and is back); read everything again.
	ChangeResync ChangeKind = "resync"
)

// Change is a change another coordinator on the same database committed.
// It names what changed, never the new value: the receiver reads the
// record from the store, so an old notification can never put back an
// old record.
type Change struct {
	Kind ChangeKind
	Node NodeID // ChangeNode only
}

// Changes carries changes between coordinators that share a database. A
// coordinator Publishes each change after it committed it, and Follows the
// others'. On SQLite (one coordinator per database) Publish does nothing
// and Follow only waits for its context.
type Changes interface {
	// Listen starts listening, so that every change published after it
	// returns is delivered by the Follower's Run.
	Listen(ctx context.Context) (Follower, error)
	// Publish announces c to every other coordinator's Follower. It
	// returns once the database has the notification.
	Publish(ctx context.Context, c Change) error
}

// Follower delivers the changes other coordinators publish.
type Follower interface {
	// Run calls apply with each change, in order, until ctx ends; after a
	// lost connection it reconnects and calls apply with ChangeResync. It
	// returns when ctx ends, having closed the follower.
	Run(ctx context.Context, apply func(Change))
	// Close stops listening, for a follower that will not Run; it is
	// idempotent.
	Close()
}

// origin names this store's publisher, so that its Follower skips its own
// changes.
func newOrigin() string { return rand.Text()[:12] }

// Listen implements Changes.
func (s *SQLStore) Listen(ctx context.Context) (Follower, error) {
	if !s.db.pg {
		return idleFollower{}, nil
	}
	f := &pgFollower{url: s.db.url, origin: s.db.origin}
	if err := f.connect(ctx); err != nil {
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	return f, nil
}

// Publish implements Changes.
func (s *SQLStore) Publish(ctx context.Context, c Change) error {
	if !s.db.pg {
		return nil
	}
	payload := s.db.origin + " " + string(c.Kind) + " " + strconv.FormatInt(int64(c.Node), 10)
	if _, err := s.db.w.ExecContext(ctx, `SELECT pg_notify(?, ?)`, changeChannel, payload); err != nil {
		return fmt.Errorf("publish %s change: %w", c.Kind, err)
	}
	return nil
}

// idleFollower is SQLite's Follower: no other coordinator, no changes.
type idleFollower struct{}

// Run implements Follower.
func (idleFollower) Run(ctx context.Context, _ func(Change)) { <-ctx.Done() }

// Close implements Follower.
func (idleFollower) Close() {}

// pgFollower listens on its own connection (LISTEN needs a session of its
// own, outside the pool).
type pgFollower struct {
	url    string
	origin string

	mu   sync.Mutex // mu guards the following
	conn *pgx.Conn  // the listening connection; nil while lost
}

// connect opens the listening connection and issues LISTEN.
func (f *pgFollower) connect(ctx context.Context) error {
	c, err := pgx.Connect(ctx, f.url)
	if err != nil {
		return err
	}
	if _, err := c.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		return errors.Join(err, c.Close(ctx))
	}
	f.mu.Lock()
	f.conn = c
	f.mu.Unlock()
	return nil
}

// Run implements Follower.
func (f *pgFollower) Run(ctx context.Context, apply func(Change)) {
	defer f.Close()
	for ctx.Err() == nil {
		f.mu.Lock()
		c := f.conn
		f.mu.Unlock()
		if c == nil {
			if !f.reconnect(ctx) {
				return
			}
			apply(Change{Kind: ChangeResync})
			continue
		}
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			f.Close()
			continue
		}
		if ch, ok := f.parse(n.Payload); ok {
			apply(ch)
		}
	}
}

// reconnect tries to connect until it succeeds or ctx ends.
func (f *pgFollower) reconnect(ctx context.Context) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(relistenDelay):
		}
		if f.connect(ctx) == nil {
			return true
		}
	}
}

// Close implements Follower: it drops the listening connection.
func (f *pgFollower) Close() {
	f.mu.Lock()
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(ctx)
	}
}

// parse reads a payload "origin kind node"; ok is false for this store's
// own changes and for payloads it does not understand.
func (f *pgFollower) parse(payload string) (Change, bool) {
	parts := strings.Fields(payload)
	if len(parts) != 3 || parts[0] == f.origin {
		return Change{}, false
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Change{}, false
	}
	return Change{Kind: ChangeKind(parts[1]), Node: NodeID(id)}, true
}
