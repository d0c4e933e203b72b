//go:build !ward_omit_coordinator

package main

import (
	"testing"
	"time"
)

func TestFlowRetentionFlagReadsDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"0", 0, true},
		{"12h", 12 * time.Hour, true},
		{"-1d", 0, false},
		{"xd", 0, false},
		{"-5h", 0, false},
	}
	for _, tc := range tests {
		var d time.Duration
		err := daysDuration{&d}.Set(tc.in)
		if (err == nil) != tc.ok || d != tc.want {
			t.Errorf("Set(%q) = %v, %v; want %v, ok %v", tc.in, d, err, tc.want, tc.ok)
		}
	}
}
