-- As migrations/0002_node_key_revoked.sql: a node whose key an admin
-- revoked may not rotate its key until approved again. NULL: not revoked.
ALTER TABLE nodes ADD COLUMN key_revoked_at BIGINT;
