package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgConns is the size of the PostgreSQL connection pool. Writers serialize
// on writeLockKey, so more connections only serve reads.
const pgConns = 8

// writeLockKey is the transaction-level advisory lock every PostgreSQL
// write transaction takes first. It makes writers, in this process and in
// every other coordinator on the same database, run one at a time, as the
// single SQLite writer does, so the checks a transaction makes before it
// writes (a free name, a free address, an unused single-use key) still hold
// when it commits.
const writeLockKey = 0x77617264 // "ward"

// IsPostgresURL reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://) rather than a data directory.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenPostgres connects to the PostgreSQL database at url, applies any
// pending schema migrations and returns the store. Several coordinators may
// open the same database: migrations and writes serialize on an advisory
// lock. Close it when done.
func OpenPostgres(ctx context.Context, url string, opts ...Option) (*SQLStore, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ula.IsValid() {
		if err := checkULA(cfg.ula); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	pc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: parse postgres url: %w", err)
	}
	p := sql.OpenDB(rebindConnector{stdlib.GetConnector(*pc)})
	p.SetMaxOpenConns(pgConns)
	p.SetMaxIdleConns(pgConns)
	d := &db{w: p, r: p, pg: true, url: url, origin: newOrigin(), fleetReads: make(chan struct{}, pgConns/2)}
	if err := p.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open store: connect to postgres: %w", err), p.Close())
	}
	if d.ula, err = setup(ctx, d, cfg); err != nil {
		return nil, errors.Join(fmt.Errorf("open store: %w", err), p.Close())
	}
	s := newSQLStore(d)
	s.jobs = &jobLocks{url: url}
	return s, nil
}

// rebindConnector hands out connections that accept the store's SQLite-style
// '?' placeholders.
type rebindConnector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := cn.(*stdlib.Conn)
	if !ok {
		return nil, errors.Join(fmt.Errorf("postgres driver gave a %T", cn), cn.Close())
	}
	return rebindConn{sc}, nil
}

// rebindConn is a pgx connection that rewrites '?' placeholders to $1, $2, …
// before a statement reaches PostgreSQL; everything else is pgx's.
type rebindConn struct{ *stdlib.Conn }

// Prepare implements driver.Conn.
func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

// PrepareContext implements driver.ConnPrepareContext.
func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

// ExecContext implements driver.ExecerContext.
func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

// QueryContext implements driver.QueryerContext.
func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// rebind rewrites each '?' outside a quoted string, quoted identifier or
// comment to $N. It knows '...' (with ” inside), E'...' (with \'
// inside), "...", -- line comments and /* */ block comments (not
// nested); the store's statements are its own constants, never built from
// input, and hold no dollar-quoted bodies.
func rebind(query string) string {
	if !strings.ContainsRune(query, '?') {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			esc := c == '\'' && i > 0 && (query[i-1] == 'E' || query[i-1] == 'e')
			j := i + 1
			for j < len(query) && query[j] != c {
				if esc && query[j] == '\\' {
					j++
				}
				j++
			}
			b.WriteString(query[i:min(j+1, len(query))])
			i = j
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i - 1
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				j = len(query) - i - 4
			}
			b.WriteString(query[i : i+j+4])
			i += j + 3
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pgUnavailable reports whether err is PostgreSQL's or the connection's way
// of saying the database cannot serve now: a lost or refused connection, or
// an error of class 08 (connection), 53 (resources), 57 (operator
// intervention, such as a shutdown) or 58 (system).
func pgUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// pgUniqueViolation reports whether err is PostgreSQL's unique_violation.
func pgUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
