package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DBFile is the name of the SQLite database file in the data directory.
const DBFile = "ward.db"

// busyTimeoutMS is how long a connection waits for another process's lock
// before SQLITE_BUSY. Within one process writes never wait on each other
// in SQLite: they queue for the single writer connection instead.
const busyTimeoutMS = 10000

// readConns is the size of the read-only connection pool. WAL mode lets
// these read while the writer writes.
const readConns = 4

// SQLite is the embedded Store: one SQLite file in WAL mode.
//
// Concurrency: all writes go through one connection (a pool of size one)
// and every write transaction starts with BEGIN IMMEDIATE, so writers in
// this process queue in Go, in context-aware order, and never see
// SQLITE_BUSY; reads use a separate pool of read-only connections and never
// block writers. Another process on the same file (such as a second Open)
// is serialized by SQLite's lock with a busy timeout of 10 s.
//
// Durability: synchronous=FULL syncs the WAL at every commit, so a write is
// on disk before its method returns.
//
// The methods are those of the embedded per-concept tables, promoted; a
// SQLite is safe for concurrent use and satisfies Store.
type SQLStore struct {
	db *db
	nodeTable
	registrar
	authKeyTable
	apiKeyTable
	relayTable
	releaseTable
	requestTable
	alertTable
	alertRulesTable
	rolloutTable
	userTable
	policyTable
	auditLog
	flowTable
	mapCounter
	refreshTokenTable
	adminSessionTable
	pendingLoginTable
	streamTable

	// jobs holds the periodic jobs' locks (PostgreSQL only).
	jobs *jobLocks

	closeOnce sync.Once
	closeErr  error // set once by Close
}

var (
	_ Store   = (*SQLStore)(nil)
	_ Changes = (*SQLStore)(nil)
	_ Jobs    = (*SQLStore)(nil)
)

// db holds the connection pools every table shares.
type db struct {
	w   *sql.DB      // SQLite: the one writer connection; PostgreSQL: the pool
	r   *sql.DB      // SQLite: read-only connections; PostgreSQL: the same pool as w
	ula netip.Prefix // IPv6 /48 of node addresses, fixed at Open
	pg  bool         // PostgreSQL rather than SQLite
	// url and origin are PostgreSQL's: the database's URL, for the
	// listening connection, and the name this store's writes log their
	// changes under.
	url, origin string
	// quiet: writes log their changes without notifying (MuteChanges).
	quiet atomic.Bool
	// reads holds SQLite's hot reads prepared on the read pool (readRow),
	// by query text: *sql.Stmt.
	reads sync.Map
	// fleetReads bounds the nodes' own reads of their record running at
	// once (NodeByMachineKey: every session and map stream), below the
	// pool's size, so that a fleet reconnecting at once leaves connections
	// to everyone else (an admin's call) instead of queueing them behind
	// thousands of its own reads.
	fleetReads chan struct{}
}

// Option configures Open.
type Option func(*config)

// config is the validated result of Open's options.
type config struct {
	ula netip.Prefix // zero: the database's, else DefaultULA
}

// WithULA sets the IPv6 /48 that node addresses come from. It must be a
// unique local prefix (fc00::/7), and once a database has allocated
// addresses it cannot change (ErrPrefixChanged).
func WithULA(p netip.Prefix) Option {
	return func(c *config) { c.ula = p }
}

// Open opens (creating it if needed) the database ward.db in dir, applies
// any pending schema migrations and returns the store. Close it when done.
func Open(ctx context.Context, dir string, opts ...Option) (*SQLStore, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ula.IsValid() {
		if err := checkULA(cfg.ula); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	d, err := openDB(ctx, dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	return newSQLStore(d), nil
}

func newSQLStore(d *db) *SQLStore {
	return &SQLStore{
		db:              d,
		nodeTable:       nodeTable{d},
		registrar:       registrar{d},
		authKeyTable:    authKeyTable{d},
		apiKeyTable:     apiKeyTable{d},
		relayTable:      relayTable{d},
		releaseTable:    releaseTable{d},
		requestTable:    requestTable{d},
		alertTable:      alertTable{d},
		alertRulesTable: alertRulesTable{d},
		rolloutTable:    rolloutTable{d},
		userTable:       userTable{d},
		policyTable:     policyTable{d},
		auditLog:        auditLog{d},
		flowTable:       flowTable{d},
		mapCounter:      mapCounter{d},

		refreshTokenTable: refreshTokenTable{d},
		adminSessionTable: adminSessionTable{d},
		pendingLoginTable: pendingLoginTable{d},
		streamTable:       streamTable{db: d, holder: newOrigin()},
	}
}

// Close closes both connection pools. Every write has been synced already.
// It is idempotent.
func (s *SQLStore) Close() error {
	s.closeOnce.Do(func() {
		if s.db.pg {
			s.jobs.close()
			s.closeErr = s.db.w.Close()
			return
		}
		s.db.reads.Range(func(_, st any) bool {
			st.(*sql.Stmt).Close()
			return true
		})
		s.closeErr = errors.Join(s.db.r.Close(), s.db.w.Close())
	})
	return s.closeErr
}

// openDB opens the pools, migrates the schema and settles the IPv6 prefix.
func openDB(ctx context.Context, dir string, cfg config) (*db, error) {
	path, err := prepareFile(dir)
	if err != nil {
		return nil, err
	}
	w, err := openPool(ctx, path, writerParams(), 1)
	if err != nil {
		return nil, err
	}
	d := &db{w: w, fleetReads: make(chan struct{}, readConns-1)}
	if d.ula, err = setup(ctx, d, cfg); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	if d.r, err = openPool(ctx, path, readerParams(), readConns); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	return d, nil
}

// setup migrates the schema and returns the prefix addresses come from.
func setup(ctx context.Context, d *db, cfg config) (netip.Prefix, error) {
	if err := migrate(ctx, d); err != nil {
		return netip.Prefix{}, err
	}
	return settleULA(ctx, d, cfg.ula)
}

// prepareFile creates dir and the database file, readable by the owner
// only, and returns the file's path.
func prepareFile(dir string) (string, error) {
	path := filepath.Join(dir, DBFile)
	if strings.ContainsRune(path, '?') {
		return "", fmt.Errorf("%w: path %q contains '?'", ErrInvalid, path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("create database file: %w", err)
	}
	return path, f.Close()
}

// writerParams are the DSN parameters of the writer connection.
func writerParams() url.Values {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return q
}

// readerParams are the DSN parameters of the read-only connections.
func readerParams() url.Values {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_query_only", "1")
	return q
}

// openPool opens a pool of at most n connections to path and checks that a
// connection can be made.
func openPool(ctx context.Context, path string, q url.Values, n int) (*sql.DB, error) {
	dsn := path + "?" + q.Encode()
	reg, err := sql.Open("sqlite", dsn) // connects to nothing: gives the registered driver
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	drv := reg.Driver()
	if err := reg.Close(); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Each connection keeps its statements prepared (stmtCacheConn).
	p := sql.OpenDB(stmtCacheConnector{drv: drv, dsn: dsn})
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
	p.SetConnMaxLifetime(0)
	p.SetConnMaxIdleTime(0)
	if err := p.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to database: %w", err), p.Close())
	}
	return p, nil
}
