-- Device risk classes (issue 17): the class an admin or the node's
-- pre-auth key gave a node, and the class a pre-auth key gives the nodes
-- that join with it. Empty means unclassified: the policy's default class.
ALTER TABLE nodes ADD COLUMN risk_class TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_keys ADD COLUMN risk_class TEXT NOT NULL DEFAULT '';
