package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// uniqueName returns name if no node has it, else name-N with the lowest
// N >= 2 that no node has. It reads only the names that start with name.
func uniqueName(ctx context.Context, q querier, name string) (string, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE name = ?`, name).Scan(&n)
	if err != nil || n == 0 {
		return name, err
	}
	used, err := usedSuffixes(ctx, q, name)
	if err != nil {
		return "", err
	}
	s := 2
	for used[s] {
		s++
	}
	return name + "-" + strconv.Itoa(s), nil
}

// usedSuffixes returns the N of every node named name-N.
func usedSuffixes(ctx context.Context, q querier, name string) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM nodes WHERE name GLOB ?`,
		globQuote(name)+"-[1-9]*")
	if err != nil {
		return nil, fmt.Errorf("list names like %q: %w", name, err)
	}
	defer rows.Close()
	used := map[int]bool{}
	for rows.Next() {
		var taken string
		if err := rows.Scan(&taken); err != nil {
			return nil, fmt.Errorf("list names like %q: %w", name, err)
		}
		suffix := strings.TrimPrefix(taken, name+"-")
		if s, err := strconv.Atoi(suffix); err == nil && strconv.Itoa(s) == suffix {
			used[s] = true
		}
	}
	return used, rows.Err()
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
