-- Every API key and pre-auth key acts on the authority of the person who
-- made it: the admin logged in to the UI, or the person behind the API key
-- that made it. creator_user_id names that user; NULL means the system (the
-- bootstrap API key and the keys made with it). The coordinator refuses a
-- key whose person is disabled or gone.
ALTER TABLE api_keys ADD COLUMN creator_user_id INTEGER REFERENCES users (id);
ALTER TABLE auth_keys ADD COLUMN creator_user_id INTEGER REFERENCES users (id);

-- Keys made before this migration name their creator only as an audit
-- actor: "system", "user:EMAIL" or "apikey:PREFIX". Follow each chain of API
-- keys back to its roots. A key whose every root is "system" stays the
-- system's; one whose single root is "user:EMAIL" of exactly one user
-- becomes that user's; any other (an unknown or shared email, a dangling or
-- ambiguous API key prefix) is revoked and audited, since nobody can tell
-- on whose authority it acts.
CREATE TEMP TABLE key_roots (
	kind TEXT NOT NULL, -- 'api' or 'auth'
	id   INTEGER NOT NULL,
	root TEXT NOT NULL
);

WITH RECURSIVE chain (id, cur, actor, depth) AS (
	SELECT id, id, created_by, 0 FROM api_keys
	UNION
	SELECT chain.id, p.id, p.created_by, chain.depth + 1
	FROM chain JOIN api_keys p ON chain.actor = 'apikey:' || p.prefix AND p.id < chain.cur
	WHERE chain.depth < 64
)
INSERT INTO key_roots (kind, id, root)
SELECT DISTINCT 'api', id, actor FROM chain
WHERE depth >= 64 OR NOT EXISTS (
	SELECT 1 FROM api_keys p WHERE chain.actor = 'apikey:' || p.prefix AND p.id < chain.cur);

INSERT INTO key_roots (kind, id, root)
SELECT 'auth', a.id, a.created_by FROM auth_keys a
WHERE NOT EXISTS (
	SELECT 1 FROM api_keys p WHERE a.created_by = 'apikey:' || p.prefix AND p.created_at <= a.created_at);

INSERT INTO key_roots (kind, id, root)
SELECT DISTINCT 'auth', a.id, r.root FROM auth_keys a
JOIN api_keys p ON a.created_by = 'apikey:' || p.prefix AND p.created_at <= a.created_at
JOIN key_roots r ON r.kind = 'api' AND r.id = p.id;

UPDATE api_keys SET creator_user_id = (
	SELECT u.id FROM key_roots r JOIN users u ON r.root = 'user:' || u.email
	WHERE r.kind = 'api' AND r.id = api_keys.id)
WHERE (SELECT count(*) FROM key_roots r WHERE r.kind = 'api' AND r.id = api_keys.id) = 1
	AND (SELECT count(*) FROM key_roots r JOIN users u ON r.root = 'user:' || u.email
		WHERE r.kind = 'api' AND r.id = api_keys.id) = 1;

UPDATE auth_keys SET creator_user_id = (
	SELECT u.id FROM key_roots r JOIN users u ON r.root = 'user:' || u.email
	WHERE r.kind = 'auth' AND r.id = auth_keys.id)
WHERE (SELECT count(*) FROM key_roots r WHERE r.kind = 'auth' AND r.id = auth_keys.id) = 1
	AND (SELECT count(*) FROM key_roots r JOIN users u ON r.root = 'user:' || u.email
		WHERE r.kind = 'auth' AND r.id = auth_keys.id) = 1;

INSERT INTO audit_events (time, actor, action, target, source, detail)
SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'system', 'apikey.revoke', 'apikey:' || id, '',
	json_object('reason', 'upgrade: the person on whose authority the key acts is unknown', 'created_by', created_by)
FROM api_keys
WHERE revoked_at IS NULL AND creator_user_id IS NULL AND EXISTS (
	SELECT 1 FROM key_roots r WHERE r.kind = 'api' AND r.id = api_keys.id AND r.root <> 'system');

UPDATE api_keys SET revoked_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER)
WHERE revoked_at IS NULL AND creator_user_id IS NULL AND EXISTS (
	SELECT 1 FROM key_roots r WHERE r.kind = 'api' AND r.id = api_keys.id AND r.root <> 'system');

INSERT INTO audit_events (time, actor, action, target, source, detail)
SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER), 'system', 'authkey.revoke', 'authkey:' || id, '',
	json_object('reason', 'upgrade: the person on whose authority the key acts is unknown', 'created_by', created_by)
FROM auth_keys
WHERE revoked_at IS NULL AND creator_user_id IS NULL AND EXISTS (
	SELECT 1 FROM key_roots r WHERE r.kind = 'auth' AND r.id = auth_keys.id AND r.root <> 'system');

UPDATE auth_keys SET revoked_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER)
WHERE revoked_at IS NULL AND creator_user_id IS NULL AND EXISTS (
	SELECT 1 FROM key_roots r WHERE r.kind = 'auth' AND r.id = auth_keys.id AND r.root <> 'system');

DROP TABLE key_roots;
