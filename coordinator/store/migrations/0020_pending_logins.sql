-- People's device logins in progress (`ward login`, `ward up` without a
-- key), so that every coordinator on the database can serve each step
-- of one: the node's request, the browser's link, the IdP's callback,
-- the confirmation and the node's wait may each reach another. key is
-- the SHA-256 of the login's id (the link's secret), browser and csrf
-- the SHA-256 of the opening browser's token and of the confirmation
-- form's token: the database never holds a usable link or token. record
-- is the rest as the coordinator encodes it (JSON); result is the
-- node's answer, empty until the login ends.
CREATE TABLE pending_logins (
	key      BLOB PRIMARY KEY CHECK (length(key) = 32),
	machine  BLOB NOT NULL CHECK (length(machine) = 32),
	source   TEXT NOT NULL,
	step     INTEGER NOT NULL,
	started  INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	browser  BLOB NOT NULL,
	csrf     BLOB NOT NULL,
	record   TEXT NOT NULL,
	result   TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX pending_logins_machine ON pending_logins (machine);
CREATE INDEX pending_logins_source ON pending_logins (source);
CREATE INDEX pending_logins_expires ON pending_logins (expires);

-- Control-session challenges presented lately, so that a signed
-- challenge opens one session on one of the coordinators of a database,
-- not one on each (coordinator/auth.go). Rows go once they expire.
CREATE TABLE used_challenges (
	nonce   BLOB PRIMARY KEY CHECK (length(nonce) = 16),
	expires INTEGER NOT NULL
) STRICT;

CREATE INDEX used_challenges_expires ON used_challenges (expires);

-- Which coordinator holds a stream of which node (node_streams), and
-- until when each coordinator's hold lasts unless it renews it
-- (stream_holders, renewed every few seconds): a node is online while a
-- live holder holds a stream of it, so that the coordinators of a
-- database agree, and a coordinator that died without saying so lets its
-- nodes go offline when its hold lapses. nodes.online is that, kept by
-- the writes of these tables. No row predates this: every node starts
-- offline until its stream opens again.
CREATE TABLE stream_holders (
	holder TEXT PRIMARY KEY,
	until  INTEGER NOT NULL
) STRICT;

CREATE TABLE node_streams (
	node_id INTEGER NOT NULL,
	holder  TEXT NOT NULL,
	PRIMARY KEY (node_id, holder)
) STRICT;

CREATE INDEX node_streams_holder ON node_streams (holder);

UPDATE nodes SET online = 0;
