-- Alerts grouped, repeated and inhibited (issue 15): when each open alert
-- last went out (so a restarted coordinator repeats it after the repeat
-- interval, not at once), whether an inhibit rule mutes it, and the
-- device's tags it fired with (the labels inhibit rules compare). And the
-- alert rules file's versions, edited in the admin UI like the policy.
ALTER TABLE alerts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE alerts ADD COLUMN notified_at INTEGER;
ALTER TABLE alerts ADD COLUMN inhibited INTEGER NOT NULL DEFAULT 0;

CREATE TABLE alert_rule_versions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	parent_id  INTEGER NOT NULL,
	text       TEXT NOT NULL,
	author     TEXT NOT NULL,
	comment    TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
