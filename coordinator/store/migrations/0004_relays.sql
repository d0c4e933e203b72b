-- Standalone relays an admin registered. Each holds a credential (only its
-- SHA-256 is kept) with which it opens its authorization feed; the maps
-- list every relay here after the coordinator's own. Removing a relay
-- deletes its row: its credential stops working and maps stop listing it.
CREATE TABLE relays (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	url        TEXT NOT NULL,
	stun       TEXT NOT NULL DEFAULT '',
	hash       BLOB NOT NULL UNIQUE,
	prefix     TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
