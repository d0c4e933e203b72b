-- TUF targets in chunks of 1 MiB (issue 16): a coordinator serving a
-- target reads one chunk at a time, so its memory per download is a
-- chunk, not the target. tuf_targets keeps each target's size; the
-- bytes move to tuf_target_chunks, numbered from 0 (an empty target has
-- none). Existing targets are split here.
CREATE TABLE tuf_target_chunks (
	path TEXT NOT NULL,
	seq  INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (path, seq)
);
INSERT INTO tuf_target_chunks (path, seq, data)
WITH RECURSIVE c(path, seq) AS (
	SELECT path, 0 FROM tuf_targets WHERE length(data) > 0
	UNION ALL
	SELECT c.path, c.seq + 1 FROM c JOIN tuf_targets t ON t.path = c.path
	WHERE (c.seq + 1) * 1048576 < length(t.data)
)
SELECT c.path, c.seq, substr(t.data, c.seq * 1048576 + 1, 1048576)
FROM c JOIN tuf_targets t ON t.path = c.path;
ALTER TABLE tuf_targets ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE tuf_targets SET size = length(data);
ALTER TABLE tuf_targets DROP COLUMN data;
