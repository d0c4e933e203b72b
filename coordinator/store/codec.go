package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Times are stored as INTEGER microseconds since the Unix epoch (UTC), which
// spans ±290,000 years; the zero time is stored as NULL. Values read back
// are UTC and truncated to the microsecond.

// dbTime converts t for storage: NULL for the zero time.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// dbNow converts t for a NOT NULL column, taking the current time for zero.
func dbNow(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixMicro()
}

// goTime converts a stored time back.
func goTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// encodeSet stores a string set (tags, groups) as a sorted JSON array
// without duplicates.
func encodeSet(s []string) string {
	s = slices.Compact(slices.Sorted(slices.Values(s)))
	return mustJSON(s)
}

// decodeStrings reads a JSON string array; empty arrays read as nil.
func decodeStrings(text string) ([]string, error) {
	if text == "[]" {
		return nil, nil
	}
	var s []string
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	return nilIfEmpty(s), nil
}

// encodePorts stores ports as a sorted JSON array without duplicates.
func encodePorts(p []uint16) string {
	p = slices.Compact(slices.Sorted(slices.Values(p)))
	return mustJSON(p)
}

// decodePorts reads a JSON port array; empty arrays read as nil.
func decodePorts(text string) ([]uint16, error) {
	if text == "[]" {
		return nil, nil
	}
	var p []uint16
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return nil, fmt.Errorf("decode ports: %w", err)
	}
	return nilIfEmpty(p), nil
}

// encodeEndpoints stores endpoints, in order, as a JSON array of strings.
func encodeEndpoints(eps []netip.AddrPort) string {
	s := make([]string, len(eps))
	for i, ep := range eps {
		s[i] = ep.String()
	}
	return mustJSON(s)
}

// decodeEndpoints reads what encodeEndpoints wrote.
func decodeEndpoints(text string) ([]netip.AddrPort, error) {
	s, err := decodeStrings(text)
	if err != nil {
		return nil, err
	}
	var eps []netip.AddrPort
	for _, v := range s {
		ep, err := netip.ParseAddrPort(v)
		if err != nil {
			return nil, fmt.Errorf("decode endpoint: %w", err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// mustJSON marshals a slice of strings or integers, which cannot fail.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // unreachable for the types used
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// nilIfEmpty returns nil for an empty slice so that records compare equal
// whether a list was never set or set empty.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// key32 copies a stored 32-byte key; a NULL (nil) value gives the zero key.
func key32(b []byte) ([32]byte, error) {
	var k [32]byte
	if b == nil {
		return k, nil
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("decode key: %d bytes, want 32", len(b))
	}
	copy(k[:], b)
	return k, nil
}

// dbKey converts a key for storage: NULL for the zero key.
func dbKey(k [32]byte) any {
	if k == [32]byte{} {
		return nil
	}
	return k[:]
}

// dbID converts an ID for a nullable foreign key: NULL for 0.
func dbID[T ~int64](id T) any {
	if id == 0 {
		return nil
	}
	return int64(id)
}
