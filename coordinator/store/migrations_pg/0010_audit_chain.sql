-- As migrations/0010_audit_chain.sql: the audit log becomes a hash chain;
-- events written before this migration keep empty hashes.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
