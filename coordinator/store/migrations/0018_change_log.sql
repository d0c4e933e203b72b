-- The change log is PostgreSQL's (migrations_pg/0018): a SQLite database
-- has one coordinator, which needs none. This version keeps the numbers
-- of both dialects the same.
SELECT 1;
