-- As migrations/0003_key_creator.sql: every API key and pre-auth key acts
-- on the authority of the user named here; NULL means the system. No
-- PostgreSQL database holds keys older than this migration, so there are
-- no old keys to attribute or revoke.
ALTER TABLE api_keys ADD COLUMN creator_user_id BIGINT REFERENCES users (id);
ALTER TABLE auth_keys ADD COLUMN creator_user_id BIGINT REFERENCES users (id);
