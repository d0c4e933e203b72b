package store

import (
	"database/sql"
	"errors"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// unavailableCodes are the SQLite primary result codes that mean the
// database cannot serve now, whatever the request.
var unavailableCodes = map[int]bool{
	sqlite3.SQLITE_BUSY:     true,
	sqlite3.SQLITE_LOCKED:   true,
	sqlite3.SQLITE_NOMEM:    true,
	sqlite3.SQLITE_READONLY: true,
	sqlite3.SQLITE_IOERR:    true,
	sqlite3.SQLITE_CORRUPT:  true,
	sqlite3.SQLITE_FULL:     true,
	sqlite3.SQLITE_CANTOPEN: true,
	sqlite3.SQLITE_PROTOCOL: true,
	sqlite3.SQLITE_NOTADB:   true,
}

// errDBClosed is database/sql's message for a closed pool, which it does
// not export as a value.
const errDBClosed = "sql: database is closed"

// Unavailable reports whether err means the storage failed (ErrUnavailable,
// a closed database, a SQLite busy, locked, full, read-only, I/O or
// corruption error, or a lost PostgreSQL connection or server) rather than refused the request. Callers answer such an
// error with "storage unavailable, try again" and do not count it as the
// caller's fault.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), errDBClosed) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && unavailableCodes[se.Code()&0xff] || pgUnavailable(err)
}
