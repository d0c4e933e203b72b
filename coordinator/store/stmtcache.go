package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
)

// maxCachedStmts bounds the statements one SQLite connection keeps
// prepared. The store's query texts are a fixed set (a few hundred at
// most); a text built at run time (an IN list of some length) may fill
// the cache, which then starts over.
const maxCachedStmts = 256

// stmtCacheConnector opens SQLite connections (through the registered
// driver, as sql.Open would) that keep each query text prepared once
// and reuse it (stmtCacheConn).
type stmtCacheConnector struct {
	drv driver.Driver
	dsn string
}

// Connect implements driver.Connector.
func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newStmtCacheConn(cn)
}

// Driver implements driver.Connector.
func (c stmtCacheConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the store needs of a SQLite driver connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtCacheConn is a SQLite connection that prepares each query text once
// and keeps it: the driver (modernc.org/sqlite) otherwise parses every
// query anew, and parsing was a quarter of a registration's store work
// (a registration runs a dozen statements: the key, the machine and
// WireGuard keys free, a name, an address, the row, the audit chain's
// head and rows). A statement whose rows are still open when its text
// runs again is not reused (SQLite would reset it under the reader):
// that call prepares a statement of its own, as before. database/sql uses
// a driver connection from one goroutine at a time, so the cache needs
// no lock.
type stmtCacheConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

// cachedStmt is one prepared query text; busy while rows of it are open.
type cachedStmt struct {
	st   cachedDriverStmt
	busy bool
}

// cachedDriverStmt is what a kept statement must do.
type cachedDriverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func newStmtCacheConn(cn driver.Conn) (driver.Conn, error) {
	sc, ok := cn.(sqliteConn)
	if !ok {
		return nil, errors.Join(fmt.Errorf("sqlite driver gave a %T", cn), cn.Close())
	}
	return &stmtCacheConn{sqliteConn: sc, stmts: map[string]*cachedStmt{}}, nil
}

// stmt returns query's kept statement, preparing it if need be, marked
// busy; nil when it is busy or cannot be prepared (the caller then runs
// the query as the driver would, which reports any error).
func (c *stmtCacheConn) stmt(ctx context.Context, query string) *cachedStmt {
	cs := c.stmts[query]
	if cs == nil {
		if len(c.stmts) >= maxCachedStmts {
			c.dropIdle()
		}
		st, err := c.sqliteConn.PrepareContext(ctx, query)
		if err != nil {
			return nil
		}
		s, ok := st.(cachedDriverStmt)
		if !ok {
			st.Close()
			return nil
		}
		cs = &cachedStmt{st: s}
		c.stmts[query] = cs
	}
	if cs.busy {
		return nil
	}
	cs.busy = true
	return cs
}

// dropIdle closes and forgets every kept statement not in use.
func (c *stmtCacheConn) dropIdle() {
	for q, cs := range c.stmts {
		if !cs.busy {
			cs.st.Close()
			delete(c.stmts, q)
		}
	}
}

// ExecContext implements driver.ExecerContext.
func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.stmt(ctx, query)
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer func() { cs.busy = false }()
	return cs.st.ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext.
func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.stmt(ctx, query)
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		cs.busy = false
		return nil, err
	}
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// Close implements driver.Conn: the kept statements first.
func (c *stmtCacheConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}

// cachedRows are a kept statement's rows; closing them frees it.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

// Close implements driver.Rows.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.cs != nil {
		r.cs.busy = false
		r.cs = nil
	}
	return err
}
