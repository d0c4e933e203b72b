-- As migrations/0005_refresh_tokens.sql: each person's latest IdP refresh
-- token, sealed by the coordinator with a key outside the database.
CREATE TABLE refresh_tokens (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	sealed     BYTEA NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);
