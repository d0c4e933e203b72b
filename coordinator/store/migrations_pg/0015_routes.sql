-- Subnet routes (issue 14): the prefixes a node advertises (its
-- --advertise-routes, as last reported) and those an admin approved, each a
-- JSON array of CIDR strings. A route carries traffic only when advertised
-- and approved (here, or by the policy's autoApprovers).
ALTER TABLE nodes ADD COLUMN advertised_routes_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE nodes ADD COLUMN approved_routes_json TEXT NOT NULL DEFAULT '[]';
