// Package store persists the coordinator's state: nodes, pre-auth keys, API
// keys, users, policy versions, the audit log and address allocation.
//
// Callers depend on the small interfaces in this package (Nodes,
// Registration, AuthKeys, APIKeys, Users, Policies, Audit, MapVersions, or the
// composite Store), never on a database type. The record types are plain Go values
// with typed fields; the store translates them to and from rows.
//
// SQLite is the embedded default (see Open); OpenPostgres keeps the same
// tables in PostgreSQL, where several coordinators may share them. Every
// method that changes state returns only after its transaction is
// committed (and, on SQLite, synced to disk), so an acknowledged write
// survives a crash of the process or the machine.
package store
