-- The latest IdP refresh token of each person, so that whichever
-- coordinator runs the IdP refresh (one per database) can ask about every
-- person, and a restart does not forget them. sealed is the token sealed
-- by the coordinator (AES-256-GCM, key outside the database): the
-- database never holds a usable token.
CREATE TABLE refresh_tokens (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject)
) STRICT;
