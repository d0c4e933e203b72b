-- Initial schema. Times are INTEGER microseconds since the Unix epoch (UTC);
-- NULL means "none". Lists are JSON arrays in TEXT columns. IDs use
-- AUTOINCREMENT so that a removed record's ID is never reused.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY NOT NULL
) STRICT;

CREATE TABLE users (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	issuer       TEXT NOT NULL,
	subject      TEXT NOT NULL,
	email        TEXT NOT NULL DEFAULT '',
	display_name TEXT NOT NULL DEFAULT '',
	groups_json  TEXT NOT NULL DEFAULT '[]',
	disabled     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	last_login   INTEGER,
	UNIQUE (issuer, subject)
) STRICT;

CREATE TABLE auth_keys (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	prefix     TEXT NOT NULL,
	tags_json  TEXT NOT NULL DEFAULT '[]',
	user_id    INTEGER REFERENCES users (id),
	reusable   INTEGER NOT NULL,
	ephemeral  INTEGER NOT NULL,
	expiry     INTEGER,
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	use_count  INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER,
	CHECK ((user_id IS NULL) <> (tags_json = '[]'))
) STRICT;

CREATE TABLE api_keys (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	hash        BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	prefix      TEXT NOT NULL,
	description TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expiry      INTEGER,
	last_used   INTEGER,
	revoked_at  INTEGER
) STRICT;

CREATE TABLE nodes (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	name               TEXT NOT NULL UNIQUE,
	hostname           TEXT NOT NULL,
	os                 TEXT NOT NULL,
	version            TEXT NOT NULL,
	machine_key        BLOB NOT NULL UNIQUE CHECK (length(machine_key) = 32),
	wg_key             BLOB NOT NULL CHECK (length(wg_key) = 32),
	prev_wg_key        BLOB CHECK (length(prev_wg_key) = 32),
	prev_wg_key_until  INTEGER,
	key_expiry         INTEGER,
	addr_index         INTEGER NOT NULL UNIQUE,
	ipv4               TEXT NOT NULL UNIQUE,
	ipv6               TEXT NOT NULL UNIQUE,
	user_id            INTEGER REFERENCES users (id),
	tags_json          TEXT NOT NULL DEFAULT '[]',
	ephemeral          INTEGER NOT NULL DEFAULT 0,
	auth_key_id        INTEGER REFERENCES auth_keys (id) ON DELETE SET NULL,
	exposed_ports_json TEXT NOT NULL DEFAULT '[]',
	endpoints_json     TEXT NOT NULL DEFAULT '[]',
	created_at         INTEGER NOT NULL,
	last_seen          INTEGER,
	online             INTEGER NOT NULL DEFAULT 0,
	CHECK ((user_id IS NULL) <> (tags_json = '[]'))
) STRICT;

CREATE UNIQUE INDEX nodes_wg_key ON nodes (wg_key);
CREATE INDEX nodes_user_id ON nodes (user_id);
CREATE INDEX nodes_auth_key_id ON nodes (auth_key_id);

-- Address indexes freed by removed nodes; not handed out again before
-- reusable_after. Rows stay (expired) until the index is reused.
CREATE TABLE address_quarantine (
	addr_index     INTEGER PRIMARY KEY,
	reusable_after INTEGER NOT NULL
) STRICT;

CREATE TABLE policy_versions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	parent_id  INTEGER NOT NULL,
	text       TEXT NOT NULL,
	author     TEXT NOT NULL,
	comment    TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_events (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	time   INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	source TEXT NOT NULL,
	detail TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_actor ON audit_events (actor, time, id);
CREATE INDEX audit_events_action ON audit_events (action, time, id);
CREATE INDEX audit_events_target ON audit_events (target, time, id);
