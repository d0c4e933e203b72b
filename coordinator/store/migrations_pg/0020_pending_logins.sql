-- As migrations/0020_pending_logins.sql: people's device logins in
-- progress, by the SHA-256 of their id, and the control-session
-- challenges presented lately. When a login ends (its result is set) the
-- coordinators are told through the change log, so that a node waiting
-- on another coordinator than the one that ended it hears at once.
CREATE TABLE pending_logins (
	key      BYTEA PRIMARY KEY CHECK (length(key) = 32),
	machine  BYTEA NOT NULL CHECK (length(machine) = 32),
	source   TEXT NOT NULL,
	step     INTEGER NOT NULL,
	started  BIGINT NOT NULL,
	expires  BIGINT NOT NULL,
	browser  BYTEA NOT NULL,
	csrf     BYTEA NOT NULL,
	record   TEXT NOT NULL,
	result   TEXT NOT NULL DEFAULT ''
);

CREATE INDEX pending_logins_machine ON pending_logins (machine);
CREATE INDEX pending_logins_source ON pending_logins (source);
CREATE INDEX pending_logins_expires ON pending_logins (expires);

CREATE FUNCTION ward_login_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.result = '' AND NEW.result <> '' THEN
		PERFORM ward_log_change('login', 0);
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER pending_logins_change_log AFTER UPDATE ON pending_logins
	FOR EACH ROW EXECUTE FUNCTION ward_login_ended();

CREATE TABLE used_challenges (
	nonce   BYTEA PRIMARY KEY CHECK (length(nonce) = 16),
	expires BIGINT NOT NULL
);

CREATE INDEX used_challenges_expires ON used_challenges (expires);

-- As migrations/0020: which coordinator holds a stream of which node,
-- and until when each one's hold lasts. A node's online flag flipping is
-- logged as a 'presence' change, so that every coordinator's maps agree.
CREATE TABLE stream_holders (
	holder TEXT PRIMARY KEY,
	until  BIGINT NOT NULL
);

CREATE TABLE node_streams (
	node_id BIGINT NOT NULL,
	holder  TEXT NOT NULL,
	PRIMARY KEY (node_id, holder)
);

CREATE INDEX node_streams_holder ON node_streams (holder);

CREATE FUNCTION ward_presence_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ward_log_change('presence', NEW.id);
	RETURN NULL;
END $$;

CREATE TRIGGER nodes_presence_log AFTER UPDATE OF online ON nodes
	FOR EACH ROW WHEN (OLD.online IS DISTINCT FROM NEW.online) EXECUTE FUNCTION ward_presence_changed();

UPDATE nodes SET online = FALSE;
