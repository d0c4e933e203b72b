-- A node whose key an admin revoked ("ward admin nodes expire") may not
-- rotate its key until an admin approves it again or it registers with a
-- new pre-auth key. NULL: not revoked.
ALTER TABLE nodes ADD COLUMN key_revoked_at INTEGER;
