-- As migrations/0006_admin_sessions.sql: the admin UI's sessions, by the
-- SHA-256 of their cookie.
CREATE TABLE admin_sessions (
	key      BYTEA PRIMARY KEY CHECK (length(key) = 32),
	user_ref TEXT NOT NULL,
	email    TEXT NOT NULL,
	record   TEXT NOT NULL,
	expires  BIGINT NOT NULL
);

CREATE INDEX admin_sessions_user ON admin_sessions (user_ref);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires);
