package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRotateResponseVersions checks that NewRotateResponse fills the
// protocol 2 fields in step with the absolute ones, and that a protocol 1
// answer still decodes (no ServerTime: the node knows to read SwitchAt).
func TestRotateResponseVersions(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		switchIn          time.Duration
		expiry            time.Time
		wantIn, wantLife  time.Duration
		wantJSON, notJSON string
	}{
		{"a day's key", 200 * time.Millisecond, now.Add(24 * time.Hour), 200 * time.Millisecond, 24 * time.Hour, `"key_lifetime_ms":86400000`, ""},
		{"a key that never expires", 0, time.Time{}, 0, 0, `"server_time"`, "key_lifetime_ms"},
		{"an expired key", 0, now.Add(-time.Minute), 0, 0, `"switch_at"`, "key_lifetime_ms"},
	}
	for _, tt := range tests {
		r := NewRotateResponse(now, tt.switchIn, tt.expiry)
		if r.SwitchIn() != tt.wantIn || r.KeyLifetime() != tt.wantLife || !r.SwitchAt.Equal(now.Add(tt.switchIn)) || !r.ServerTime.Equal(now) {
			t.Errorf("%s: %+v", tt.name, r)
		}
		b, err := json.Marshal(r)
		if err != nil || !strings.Contains(string(b), tt.wantJSON) || (tt.notJSON != "" && strings.Contains(string(b), tt.notJSON)) {
			t.Errorf("%s: json %s, %v; want %s without %q", tt.name, b, err, tt.wantJSON, tt.notJSON)
		}
	}
	var old RotateResponse
	if err := json.Unmarshal([]byte(`{"switch_at":"2026-12-06T10:00:00.2Z","key_expiry":"2026-12-07T10:00:00Z"}`), &old); err != nil {
		t.Fatal(err)
	}
	if !old.ServerTime.IsZero() || old.SwitchIn() != 0 || old.SwitchAt.IsZero() {
		t.Errorf("protocol 1 answer decoded as %+v", old)
	}
	b, _ := json.Marshal(MapResponse{KeepAlive: true, Version: 3})
	if strings.Contains(string(b), "server_time") {
		t.Errorf("a message without ServerTime sends it: %s", b)
	}
}
