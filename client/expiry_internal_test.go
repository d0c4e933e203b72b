package client

import (
	"testing"
	"time"
)

func TestWarnAt(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		expiry time.Time
		want   time.Time
	}{
		{"an hour left", now.Add(time.Hour), now.Add(50 * time.Minute)},
		{"exactly ten minutes", now.Add(10 * time.Minute), now},
		{"five minutes", now.Add(5 * time.Minute), now},
		{"expired", now.Add(-time.Minute), now},
	}
	for _, tt := range tests {
		if got := warnAt(tt.expiry, now); !got.Equal(tt.want) {
			t.Errorf("%s: warnAt = %v, want %v", tt.name, got, tt.want)
		}
	}
}
