-- Just-in-time access requests (issue 17): a person asks for one port of
-- one device for a while, with a reason; an approver approves (the access
-- then lasts until expires_at) or denies; an admin may revoke an approved
-- one. Rows are kept as the record of who asked, who decided and when.
CREATE TABLE access_requests (
	id          INTEGER PRIMARY KEY,
	user_id     INTEGER NOT NULL,
	node_id     INTEGER NOT NULL,
	proto       INTEGER NOT NULL,
	port        INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL,
	reason      TEXT NOT NULL,
	status      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	decided_by  TEXT NOT NULL DEFAULT '',
	decided_at  INTEGER,
	expires_at  INTEGER
);
CREATE INDEX access_requests_status ON access_requests (status);
