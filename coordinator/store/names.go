package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// lowestSuffix finds, inside SQLite, the lowest N >= 2 such that no node is
// named base-N, where base is the first parameter and the second is the
// GLOB pattern of base-<digits>. Only N written without leading zeros
// counts. It reads just the names that start with base, through the name
// index, and builds no Go values per name.
const lowestSuffix = `WITH taken (n) AS (
	SELECT CAST(substr(name, length(?1) + 2) AS INTEGER) FROM nodes
	WHERE name GLOB ?2 AND substr(name, length(?1) + 2) NOT GLOB '*[^0-9]*'
)
SELECT min(c) FROM (SELECT 2 AS c UNION ALL SELECT n + 1 FROM taken)
WHERE c >= 2 AND c NOT IN (SELECT n FROM taken)`

// lowestSuffixPG is lowestSuffix for PostgreSQL, where the second
// parameter is a regular expression for base-<digits> instead.
const lowestSuffixPG = `WITH taken (n) AS (
	SELECT CAST(substr(name, length($1) + 2) AS BIGINT) FROM nodes
	WHERE starts_with(name, $1 || '-') AND name ~ $2
)
SELECT min(c) FROM (SELECT 2 AS c UNION ALL SELECT n + 1 FROM taken) AS cs
WHERE c >= 2 AND c NOT IN (SELECT n FROM taken)`

// uniqueName returns name if no node has it, else name-N with the lowest
// N >= 2 that no node has.
func uniqueName(ctx context.Context, d *db, q querier, name string) (string, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE name = ?`, name).Scan(&n)
	if err != nil || n == 0 {
		return name, err
	}
	var s int64
	if d.pg {
		err = q.QueryRowContext(ctx, lowestSuffixPG, name, "^"+regexp.QuoteMeta(name)+"-[1-9][0-9]{0,17}$").Scan(&s)
	} else {
		err = q.QueryRowContext(ctx, lowestSuffix, name, globQuote(name)+"-[1-9]*").Scan(&s)
	}
	if err != nil {
		return "", fmt.Errorf("find a free name like %q: %w", name, err)
	}
	return name + "-" + strconv.FormatInt(s, 10), nil
}

// globQuote escapes the GLOB wildcards in s so that it matches literally.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
