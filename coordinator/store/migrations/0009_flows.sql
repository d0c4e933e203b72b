-- Flow logs: what each node reported carrying, one row per flow and
-- window. node_id and node are the reporting node as its authentication
-- named it; the *_node and *_who columns the ends as the coordinator knew
-- their addresses at ingest. Rows older than the retention are deleted.
CREATE TABLE flows (
	id         INTEGER PRIMARY KEY,
	node_id    INTEGER NOT NULL,
	node       TEXT NOT NULL,
	src        TEXT NOT NULL,
	dst        TEXT NOT NULL,
	src_node   TEXT NOT NULL,
	src_who    TEXT NOT NULL,
	dst_node   TEXT NOT NULL,
	dst_who    TEXT NOT NULL,
	proto      INTEGER NOT NULL,
	port       INTEGER NOT NULL,
	inbound    INTEGER NOT NULL,
	denied     INTEGER NOT NULL,
	rule       TEXT NOT NULL,
	start_at   INTEGER NOT NULL,
	end_at     INTEGER NOT NULL,
	bytes_sent INTEGER NOT NULL,
	bytes_recv INTEGER NOT NULL,
	count      INTEGER NOT NULL
) STRICT;

CREATE INDEX flows_end ON flows (end_at, id);
CREATE INDEX flows_node ON flows (node, end_at);
CREATE INDEX flows_src_node ON flows (src_node, end_at);
CREATE INDEX flows_dst_node ON flows (dst_node, end_at);
