-- Alerts (issue 15): each alert the rules fired, kept so a restarted
-- coordinator neither alerts twice for a condition still open nor forgets
-- to send its recovery, and so the alerts page and `ward admin alerts`
-- show what is open, acknowledged and resolved. An event alert (a device
-- joined, a policy change, an admin login) is stored in state 'event'.
CREATE TABLE alerts (
	id         INTEGER PRIMARY KEY,
	rule       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	severity   TEXT NOT NULL,
	subject    TEXT NOT NULL,
	summary    TEXT NOT NULL,
	state      TEXT NOT NULL,
	starts_at  INTEGER NOT NULL,
	ends_at    INTEGER,
	acked_by   TEXT NOT NULL DEFAULT '',
	acked_at   INTEGER
);
CREATE INDEX alerts_state ON alerts (state);
CREATE INDEX alerts_rule_subject ON alerts (rule, subject);
