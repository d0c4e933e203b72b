-- The audit log becomes a hash chain (package auditchain): each event
-- carries the hash of the one before it and its own, over its content.
-- Events written before this migration keep empty hashes; the chain
-- begins with the first event after it.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
