package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// changeChannel is the PostgreSQL NOTIFY channel the change log's
// triggers wake coordinators on.
const changeChannel = "ward_changes"

// beatChannel is the PostgreSQL NOTIFY channel routers' liveness beats
// are forwarded on (ForwardBeat); its payload is the machine key.
const beatChannel = "ward_beat"

// beatBuffer is how many forwarded beats a follower holds for its Run;
// more are dropped (a router's next beat comes an interval later).
const beatBuffer = 256

// relistenDelay is how long Follow waits before it connects again after
// losing its listening connection.
const relistenDelay = time.Second

// ChangePoll is how often a Follower reads the change log without being
// woken: the bound within which a change whose notification was lost
// (a listening connection cut or silently dead) reaches every other
// coordinator.
const ChangePoll = 5 * time.Second

// The change log keeps rows changeKeep, pruned every changePrune by the
// one coordinator that holds jobPruneChanges (the newest row stays, so
// that a follower tells a pruned log from an idle one).
const (
	changeKeep      = 10 * time.Minute
	changePrune     = time.Minute
	jobPruneChanges = "prune-change-log"
)

// changeBatch is the most rows one read of the change log takes.
const changeBatch = 1000

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
	// ChangeResync: changes may have been missed (the change log was
	// pruned past the last one read); read everything again.
	ChangeResync ChangeKind = "resync"
	// ChangeBeat: machine Change.Machine beat on another coordinator
	// (ForwardBeat). Not logged, only notified: a lost one is no change.
	ChangeBeat ChangeKind = "beat"
)

// Change is a change another coordinator on the same database committed.
// It names what changed, never the new value: the receiver reads the
// record from the store, so an old notification can never put back an
// old record.
type Change struct {
	Kind    ChangeKind
	Node    NodeID // ChangeNode only
	Machine string // ChangeBeat only: the machine key, as text
}

// Changes carries changes between coordinators that share a database. On
// PostgreSQL every write transaction that changes what maps carry logs
// the change and notifies inside the transaction (the change log's
// triggers), so nothing is published apart; the others Follow the log.
// On SQLite (one coordinator per database) Follow only waits for its
// context.
type Changes interface {
	// Listen starts listening, so that every change committed after it
	// returns is delivered by the Follower's Run.
	Listen(ctx context.Context) (Follower, error)
	// ForwardBeat tells the other coordinators' Followers that machine
	// (a machine key, as text) beat here: one NOTIFY outside any
	// transaction, no row written. On SQLite it does nothing.
	ForwardBeat(ctx context.Context, machine string) error
}

// Follower delivers the changes other coordinators commit.
type Follower interface {
	// Run calls apply with each change other coordinators committed, in
	// order (repeats within one read of the log folded), until ctx ends:
	// at once when notified, and every ChangePoll in any case. Beats
	// forwarded (ChangeBeat) it applies as they are notified, never read
	// again. After a
	// lost listening connection it reconnects and reads on from where it
	// was. It returns when ctx ends, having closed the follower.
	Run(ctx context.Context, apply func(Change))
	// Close stops listening, for a follower that will not Run; it is
	// idempotent.
	Close()
}

// origin names this store's writes in the change log, so that its
// Follower skips its own changes.
func newOrigin() string { return rand.Text()[:12] }

// MuteChanges is fault injection for tests: while on, this store's writes
// log their changes without notifying, as though every notification were
// lost, so that only the other followers' poll finds them.
func (s *SQLStore) MuteChanges(on bool) { s.db.quiet.Store(on) }

// Listen implements Changes.
func (s *SQLStore) Listen(ctx context.Context) (Follower, error) {
	if !s.db.pg {
		return idleFollower{}, nil
	}
	f := &pgFollower{s: s, wake: make(chan struct{}, 1), beats: make(chan string, beatBuffer)}
	if err := s.db.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM change_log`).Scan(&f.last); err != nil {
		return nil, fmt.Errorf("listen for changes: read the change log: %w", err)
	}
	if err := f.connect(ctx); err != nil {
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	return f, nil
}

// ForwardBeat implements Changes.
func (s *SQLStore) ForwardBeat(ctx context.Context, machine string) error {
	if !s.db.pg {
		return nil
	}
	if _, err := s.db.r.ExecContext(ctx, `SELECT pg_notify(?, ?)`, beatChannel, machine); err != nil {
		return fmt.Errorf("forward beat of %s: %w", machine, err)
	}
	return nil
}

// idleFollower is SQLite's Follower: no other coordinator, no changes.
type idleFollower struct{}

// Run implements Follower.
func (idleFollower) Run(ctx context.Context, _ func(Change)) { <-ctx.Done() }

// Close implements Follower.
func (idleFollower) Close() {}

// pgFollower reads the change log from the pool, woken by notifications
// on a listening connection of its own (LISTEN needs a session of its
// own, outside the pool) and by a timer.
type pgFollower struct {
	s *SQLStore
	// wake has room for one wake-up from the listener.
	wake chan struct{}
	// beats carries the beats forwarded (their machine keys) from the
	// listener to Run.
	beats chan string
	// last is the last change log row read; only Run's goroutine uses it
	// after Listen.
	last int64
	// pruned is when this follower last pruned the log (Run's goroutine).
	pruned time.Time

	mu   sync.Mutex // mu guards the following
	conn *pgx.Conn  // the listening connection; nil while lost
}

// connect opens the listening connection and issues LISTEN.
func (f *pgFollower) connect(ctx context.Context) error {
	c, err := pgx.Connect(ctx, f.s.db.url)
	if err != nil {
		return err
	}
	for _, ch := range []string{changeChannel, beatChannel} {
		if _, err := c.Exec(ctx, "LISTEN "+ch); err != nil {
			return errors.Join(err, c.Close(ctx))
		}
	}
	f.mu.Lock()
	f.conn = c
	f.mu.Unlock()
	return nil
}

// Run implements Follower.
func (f *pgFollower) Run(ctx context.Context, apply func(Change)) {
	var wg sync.WaitGroup
	defer f.Close()
	defer wg.Wait()
	wg.Go(func() { f.listen(ctx) })
	tick := time.NewTicker(ChangePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-f.beats:
			apply(Change{Kind: ChangeBeat, Machine: m})
			continue
		case <-f.wake:
		case <-tick.C:
			f.prune(ctx)
		}
		f.catchUp(ctx, apply)
	}
}

// listen waits for notifications and wakes Run for every one another
// coordinator sent, until ctx ends. A lost connection is made again, and
// Run woken: it may have missed notifications meanwhile.
func (f *pgFollower) listen(ctx context.Context) {
	for ctx.Err() == nil {
		f.mu.Lock()
		c := f.conn
		f.mu.Unlock()
		if c == nil {
			if !f.reconnect(ctx) {
				return
			}
			f.signal()
			continue
		}
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			f.Close()
			continue
		}
		switch {
		case n.Channel == beatChannel:
			select {
			case f.beats <- n.Payload:
			default: // Run is behind: drop it
			}
		case n.Payload != f.s.db.origin:
			f.signal()
		}
	}
}

func (f *pgFollower) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// catchUp applies the change log's rows after the last one read, other
// coordinators' only, each node, kind or resync once per read. A log
// pruned past the last row read (this coordinator could not read it for
// changeKeep) asks for a resync.
func (f *pgFollower) catchUp(ctx context.Context, apply func(Change)) {
	for ctx.Err() == nil {
		changes, last, n, err := f.read(ctx)
		if err != nil {
			return // the next wake or tick reads again from f.last
		}
		f.last = last
		for _, c := range changes {
			apply(c)
		}
		if n < changeBatch {
			return
		}
	}
}

// read returns the changes other coordinators logged after f.last, up to
// changeBatch rows (n), folded, and the last row's seq.
func (f *pgFollower) read(ctx context.Context) (changes []Change, last int64, n int, err error) {
	var first, newest sql.NullInt64
	err = f.s.db.r.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM change_log`).Scan(&first, &newest)
	if err != nil {
		return nil, 0, 0, err
	}
	if first.Valid && first.Int64 > f.last+1 {
		// Pruned past f.last (or, once at most, a first seq a rolled
		// back transaction took: a resync too many).
		return []Change{{Kind: ChangeResync}}, newest.Int64, 0, nil
	}
	rows, err := f.s.db.r.QueryContext(ctx, `SELECT seq, origin, kind, node_id FROM change_log
		WHERE seq > ? ORDER BY seq LIMIT ?`, f.last, changeBatch)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	last = f.last
	seen := map[Change]bool{}
	for rows.Next() {
		var origin string
		var c Change
		if err := rows.Scan(&last, &origin, &c.Kind, &c.Node); err != nil {
			return nil, 0, 0, err
		}
		n++
		if origin != f.s.db.origin && !seen[c] {
			seen[c] = true
			changes = append(changes, c)
		}
	}
	return changes, last, n, rows.Err()
}

// prune deletes the rows older than changeKeep but the newest, at most
// every changePrune, on the coordinator that runs the job.
func (f *pgFollower) prune(ctx context.Context) {
	now := time.Now()
	if now.Sub(f.pruned) < changePrune || !f.s.RunsJob(ctx, jobPruneChanges) {
		return
	}
	f.pruned = now
	// A failed prune is tried again a minute later; the log only grows
	// meanwhile.
	_, _ = f.s.db.w.ExecContext(ctx, `DELETE FROM change_log WHERE at < ?
		AND seq < (SELECT max(seq) FROM change_log)`, now.Add(-changeKeep).UnixMicro())
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
