package store

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// jobCheckEvery is how often a held job lock's connection is checked.
const jobCheckEvery = time.Second

// Jobs decides which coordinator on a database runs each periodic job
// (reaping ephemeral nodes, auditing key expiries, refreshing logins with
// the IdP), so that exactly one does.
type Jobs interface {
	// RunsJob reports whether this coordinator runs job now: on SQLite
	// always; on PostgreSQL when it holds the job's advisory lock, which
	// it tries to take when it does not. A coordinator that dies releases
	// its locks with its connection, and the next to ask takes them over.
	RunsJob(ctx context.Context, job string) bool
}

// jobLocks holds PostgreSQL session advisory locks on a connection of its
// own (a pooled connection would hand them to whoever used it next).
type jobLocks struct {
	url string

	mu      sync.Mutex // mu guards the following
	conn    *pgx.Conn  // nil until the first RunsJob, and after a lost connection
	held    map[string]bool
	checked time.Time // when conn last answered
}

// RunsJob implements Jobs.
func (s *SQLStore) RunsJob(ctx context.Context, job string) bool {
	if !s.db.pg {
		return true
	}
	return s.jobs.runs(ctx, job)
}

// runs is RunsJob on PostgreSQL.
func (j *jobLocks) runs(ctx context.Context, job string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.aliveLocked(ctx) {
		return false
	}
	if j.held[job] {
		return true
	}
	var ok bool
	if err := j.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, jobKey(job)).Scan(&ok); err != nil {
		j.dropLocked()
		return false
	}
	j.held[job] = ok
	return ok
}

// aliveLocked connects when there is no connection, checks a held one at
// most every jobCheckEvery, and reports whether it is usable. Losing it
// loses every lock.
func (j *jobLocks) aliveLocked(ctx context.Context) bool {
	if j.conn == nil {
		c, err := pgx.Connect(ctx, j.url)
		if err != nil {
			return false
		}
		j.conn, j.held, j.checked = c, map[string]bool{}, time.Now()
		return true
	}
	if time.Since(j.checked) < jobCheckEvery {
		return true
	}
	if err := j.conn.Ping(ctx); err != nil {
		j.dropLocked()
		return false
	}
	j.checked = time.Now()
	return true
}

// dropLocked closes the connection, releasing every lock.
func (j *jobLocks) dropLocked() {
	if j.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		j.conn.Close(ctx)
	}
	j.conn, j.held = nil, nil
}

// close releases the locks; Close calls it.
func (j *jobLocks) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.dropLocked()
}

// jobKey is job's advisory lock key: an FNV-1a hash of its name, apart
// from writeLockKey's.
func jobKey(job string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ward job " + job))
	return int64(h.Sum64())
}
