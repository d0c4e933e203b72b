-- The fleet's TUF repository (issue 16), as the admin publishes it
-- (`ward release publish`): signed metadata by file name ("1.root.json",
-- "7.targets.json", "timestamp.json") and targets by path. Both are kept
-- in the database so that every coordinator of a PostgreSQL deployment
-- serves the same repository; the coordinator never signs anything.
CREATE TABLE tuf_metadata (
	name       TEXT PRIMARY KEY,
	data       BLOB NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE tuf_targets (
	path       TEXT PRIMARY KEY,
	data       BLOB NOT NULL,
	updated_at INTEGER NOT NULL
);
