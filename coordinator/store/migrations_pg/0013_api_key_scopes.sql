-- As migrations/0013_api_key_scopes.sql: an API key's scopes ('admin'
-- for keys made before scopes existed) and a person's last
-- authentication and last second-factor authentication times.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE users ADD COLUMN auth_time BIGINT;
ALTER TABLE users ADD COLUMN mfa_time BIGINT;
