-- As migrations/0014_tuf_repository.sql: the fleet's TUF repository,
-- signed metadata by file name and targets by path.
CREATE TABLE tuf_metadata (
	name       TEXT PRIMARY KEY,
	data       BYTEA NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE tuf_targets (
	path       TEXT PRIMARY KEY,
	data       BYTEA NOT NULL,
	updated_at BIGINT NOT NULL
);
