package web

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAuditDetailFields: an audit detail becomes sorted key/value lines,
// nested objects flattened, lists of plain values joined; whatever the
// detail's Go type (a map in process, raw JSON from the store).
func TestAuditDetailFields(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name   string
		detail any
		want   []detailField
	}{
		{"flow", map[string]any{"src": "bob@example.com", "port": 23, "count": 4},
			[]detailField{{"count", "4"}, {"port", "23"}, {"src", "bob@example.com"}}},
		{"raw", json.RawMessage(`{"tags":["tag:a","tag:b"],"ok":true,"gone":null}`),
			[]detailField{{"gone", "—"}, {"ok", "true"}, {"tags", "tag:a, tag:b"}}},
		{"nested", map[string]any{"before": map[string]any{"tags": []string{}}, "after": map[string]any{"tags": []string{"tag:x"}}},
			[]detailField{{"after.tags", "tag:x"}, {"before.tags", "—"}}},
		{"list of objects", map[string]any{"grants": []map[string]int{{"port": 1}}},
			[]detailField{{"grants", `[{"port":1}]`}}},
		{"time", map[string]any{"expiry": at}, []detailField{{"expiry", "2026-01-02T03:04:05Z"}}},
		{"empty object", map[string]any{}, []detailField{{"", "—"}}},
		{"string", "just text", []detailField{{"", "just text"}}},
		{"number", 12.5, []detailField{{"", "12.5"}}},
	} {
		if diff := cmp.Diff(c.want, detailFields(c.detail)); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", c.name, diff)
		}
	}
}
