package ratelimit

import (
	"testing"
	"time"
)

func TestKeyedAllow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	l := New[string](time.Minute, 2, 10)
	steps := []struct {
		key       string
		at        time.Duration
		ok        bool
		wantRetry time.Duration
	}{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, false, time.Minute},
		{"b", 0, true, 0}, // another key has its own bucket
		{"a", 30 * time.Second, false, 30 * time.Second},
		{"a", time.Minute, true, 0},
		{"a", time.Minute, false, time.Minute},
	}
	for i, s := range steps {
		ok, retry := l.Allow(s.key, t0.Add(s.at))
		if ok != s.ok || retry != s.wantRetry {
			t.Errorf("step %d (%s at %v): Allow = %v, %v; want %v, %v", i, s.key, s.at, ok, retry, s.ok, s.wantRetry)
		}
	}
}

func TestKeyedTableIsBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	l := New[int](time.Hour, 1, 100)
	for i := range 10000 {
		l.Allow(i, t0)
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("table holds %d keys, want at most 100", n)
	}
	// A key that is still limited and tracked stays limited.
	if ok, _ := l.Allow(9999, t0); ok {
		t.Fatal("the last key got a second token within the hour")
	}
}

// BenchmarkAllowNewKeyFullTable is a flood of new keys against a full
// table: each call forgets one key, in constant time.
func BenchmarkAllowNewKeyFullTable(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	l := New[int](time.Second, 10, 65536)
	for i := range 65536 {
		l.Allow(i, t0)
	}
	b.ResetTimer()
	for i := range b.N {
		l.Allow(65536+i, t0)
	}
}
