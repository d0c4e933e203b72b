-- Rollouts (issue 16): one update target assigned to chosen devices in
-- waves. spec is the admin's request as the coordinator validated it
-- (JSON); wave is the index of the current wave; gate_met_at is when the
-- current wave's success gate first held (its soak runs from then);
-- failed_ack is how many of the wave's failures an admin acknowledged by
-- resuming. Each selected device has one rollout_devices row with its
-- wave, its state (pending, assigned, sent, or a state it reported) and
-- clock_at, from which its timeout runs.
CREATE TABLE rollouts (
	id           INTEGER PRIMARY KEY,
	spec         TEXT NOT NULL,
	status       TEXT NOT NULL,
	pause_reason TEXT NOT NULL DEFAULT '',
	wave         INTEGER NOT NULL DEFAULT 0,
	waves        INTEGER NOT NULL,
	gate_met_at  INTEGER,
	failed_ack   INTEGER NOT NULL DEFAULT 0,
	created_by   TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);
CREATE TABLE rollout_devices (
	rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
	node_id    INTEGER NOT NULL,
	wave       INTEGER NOT NULL,
	state      TEXT NOT NULL,
	progress   INTEGER NOT NULL DEFAULT 0,
	reason     TEXT NOT NULL DEFAULT '',
	clock_at   INTEGER,
	updated_at INTEGER,
	PRIMARY KEY (rollout_id, node_id)
);
CREATE INDEX rollout_devices_node ON rollout_devices (node_id);
CREATE INDEX rollout_devices_state ON rollout_devices (state);
