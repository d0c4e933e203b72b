-- As migrations/0016_tuf_target_chunks.sql: TUF targets in chunks of
-- 1 MiB, numbered from 0; tuf_targets keeps each target's size.
CREATE TABLE tuf_target_chunks (
	path TEXT NOT NULL,
	seq  BIGINT NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (path, seq)
);
INSERT INTO tuf_target_chunks (path, seq, data)
SELECT t.path, s.seq, substring(t.data FROM s.seq * 1048576 + 1 FOR 1048576)
FROM tuf_targets t, generate_series(0, (length(t.data) - 1) / 1048576) AS s(seq)
WHERE length(t.data) > 0;
ALTER TABLE tuf_targets ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE tuf_targets SET size = length(data);
ALTER TABLE tuf_targets DROP COLUMN data;
