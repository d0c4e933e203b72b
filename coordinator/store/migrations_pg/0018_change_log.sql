-- The change log (issue 11): one row per write transaction's change to
-- what maps carry (a node, the users, the policy, the relays, the access
-- requests), written by triggers inside the writing transaction, which
-- also NOTIFY ward_changes there: the row and the notification commit
-- with the change or not at all. Writers hold writeLockKey, so seq runs
-- in commit order; coordinators read the rows after the last one they
-- applied, woken by the notification or, should one be lost, by their
-- poll (store.Follower). The writer names itself in the transaction
-- setting ward.origin; ward.quiet = 'on' leaves the notification out
-- (fault injection, store.SQLStore.MuteChanges).
CREATE TABLE change_log (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	origin  TEXT NOT NULL,
	kind    TEXT NOT NULL,
	node_id BIGINT NOT NULL,
	at      BIGINT NOT NULL
);

CREATE FUNCTION ward_log_change(kind TEXT, node BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	origin TEXT := coalesce(current_setting('ward.origin', true), '');
BEGIN
	INSERT INTO change_log (origin, kind, node_id, at)
		VALUES (origin, kind, node, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
	IF coalesce(current_setting('ward.quiet', true), '') <> 'on' THEN
		PERFORM pg_notify('ward_changes', origin);
	END IF;
END $$;

-- A node's row: every change but presence (last_seen, online), which
-- stays with the coordinator that holds the node's stream.
CREATE FUNCTION ward_node_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM ward_log_change('node', OLD.id);
	ELSIF TG_OP = 'INSERT' OR (to_jsonb(OLD) - 'last_seen' - 'online') <> (to_jsonb(NEW) - 'last_seen' - 'online') THEN
		PERFORM ward_log_change('node', NEW.id);
	END IF;
	RETURN NULL;
END $$;

-- Users, policy versions, relays and access requests: one row per
-- statement, naming the kind.
CREATE FUNCTION ward_table_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ward_log_change(TG_ARGV[0], 0);
	RETURN NULL;
END $$;

CREATE TRIGGER nodes_change_log AFTER INSERT OR UPDATE OR DELETE ON nodes
	FOR EACH ROW EXECUTE FUNCTION ward_node_changed();
CREATE TRIGGER users_change_log AFTER INSERT OR UPDATE OR DELETE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION ward_table_changed('users');
CREATE TRIGGER policy_change_log AFTER INSERT OR UPDATE OR DELETE ON policy_versions
	FOR EACH STATEMENT EXECUTE FUNCTION ward_table_changed('policy');
CREATE TRIGGER relays_change_log AFTER INSERT OR UPDATE OR DELETE ON relays
	FOR EACH STATEMENT EXECUTE FUNCTION ward_table_changed('relays');
CREATE TRIGGER requests_change_log AFTER INSERT OR UPDATE OR DELETE ON access_requests
	FOR EACH STATEMENT EXECUTE FUNCTION ward_table_changed('requests');
