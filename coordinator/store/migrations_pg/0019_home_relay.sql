-- A node's home relay (issue 11): the relay it listens on, as it last
-- reported it, so that every coordinator of a database tells its peers
-- where to reach it over a relay.
ALTER TABLE nodes ADD COLUMN home_relay TEXT NOT NULL DEFAULT '';
