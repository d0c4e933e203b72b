-- The admin UI's sessions, so that every coordinator on the database
-- knows them and a restart ends none. key is the SHA-256 of the session
-- cookie: the database never holds a usable cookie. record is the
-- session as the coordinator encodes it (JSON).
CREATE TABLE admin_sessions (
	key      BLOB PRIMARY KEY CHECK (length(key) = 32),
	user_ref TEXT NOT NULL,
	email    TEXT NOT NULL,
	record   TEXT NOT NULL,
	expires  INTEGER NOT NULL
) STRICT;

CREATE INDEX admin_sessions_user ON admin_sessions (user_ref);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires);
