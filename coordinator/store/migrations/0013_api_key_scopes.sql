-- API key scopes (issue 17): a comma-separated list of admin scopes
-- (admin.ScopeRead ...) that narrow what a key may do below its role.
-- Keys made before scopes existed get 'admin', so they keep their rights.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
-- A person's last login at the IdP (issue 17's step-up MFA): when it was
-- (auth_time, unix microseconds) and when the last one that showed a
-- second factor was; NULL when none is known.
ALTER TABLE users ADD COLUMN auth_time INTEGER;
ALTER TABLE users ADD COLUMN mfa_time INTEGER;
