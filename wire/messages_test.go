package wire

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
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

// TestRotateResponseDurationsSaturate: millisecond counts too large for a
// time.Duration come out as the largest (or smallest) one, never wrapped
// around into a short or negative wait.
func TestRotateResponseDurationsSaturate(t *testing.T) {
	tests := []struct {
		ms   int64
		want time.Duration
	}{
		{1500, 1500 * time.Millisecond},
		{-1500, -1500 * time.Millisecond},
		{math.MaxInt64 / 1000, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MinInt64},
	}
	for _, tt := range tests {
		r := RotateResponse{SwitchInMillis: tt.ms, KeyLifetimeMillis: tt.ms}
		if r.SwitchIn() != tt.want || r.KeyLifetime() != tt.want {
			t.Errorf("%d ms: SwitchIn %v, KeyLifetime %v, want %v", tt.ms, r.SwitchIn(), r.KeyLifetime(), tt.want)
		}
	}
}

// TestNodeGrantsKeepNilApartFromEmpty pins protocol 5's distinction: a
// peer with no grants ("grants":[]) is not a peer whose grants are
// unknown (no field, from an older coordinator), after a round trip too.
func TestNodeGrantsKeepNilApartFromEmpty(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       Node
		json    string
		wantNil bool
	}{
		{"unknown", Node{ID: 1}, "", true},
		{"nothing granted", Node{ID: 1, Grants: []filter.PortGrant{}}, `"grants":[]`, false},
		{"tcp 80", Node{ID: 1, Grants: []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 80, Last: 80}}}}},
			`"grants":[{"proto":6,"ports":[{"first":80,"last":80}]}]`, false},
	} {
		b, err := json.Marshal(tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if tt.json == "" && strings.Contains(string(b), "grants") || !strings.Contains(string(b), tt.json) {
			t.Errorf("%s: %s; want %q", tt.name, b, tt.json)
		}
		var back Node
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if (back.Grants == nil) != tt.wantNil || len(back.Grants) != len(tt.n.Grants) {
			t.Errorf("%s: decoded grants %#v", tt.name, back.Grants)
		}
	}
}

func TestUpdateReportCheckRefusesBadReports(t *testing.T) {
	ok := UpdateReport{Rollout: 1, Target: "t", State: UpdateHealthy, Progress: 100}
	if err := ok.Check(); err != nil {
		t.Fatalf("good report refused: %v", err)
	}
	for name, mut := range map[string]func(*UpdateReport){
		"no rollout":    func(r *UpdateReport) { r.Rollout = 0 },
		"no target":     func(r *UpdateReport) { r.Target = "" },
		"unknown state": func(r *UpdateReport) { r.State = "done" },
		"progress 101":  func(r *UpdateReport) { r.Progress = 101 },
		"progress -1":   func(r *UpdateReport) { r.Progress = -1 },
		"long reason":   func(r *UpdateReport) { r.Reason = strings.Repeat("x", MaxUpdateReasonBytes+1) },
	} {
		r := ok
		mut(&r)
		if r.Check() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
