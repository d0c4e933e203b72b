-- As migrations/0007_risk_class.sql: the risk class of a node and of the
-- nodes a pre-auth key registers; empty means unclassified.
ALTER TABLE nodes ADD COLUMN risk_class TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_keys ADD COLUMN risk_class TEXT NOT NULL DEFAULT '';
