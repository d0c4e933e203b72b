package apicall

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	date := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return date.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name, h, date string
		want          time.Duration
	}{
		{"absent", "", at(0), 0},
		{"seconds", "120", "", 2 * time.Minute},
		{"zero seconds", "0", "", 0},
		{"negative", "-5", "", 0},
		{"capped", "99999999", "", maxRetryAfter},
		{"http date after the answer's date", at(90 * time.Second), at(0), 90 * time.Second},
		{"http date before the answer's date", at(-time.Minute), at(0), 0},
		{"http date without a date header", at(time.Minute), "", 0},
		{"garbage", "tomorrow", at(0), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.h, tt.date); got != tt.want {
			t.Errorf("%s: parseRetryAfter(%q, %q) = %v, want %v", tt.name, tt.h, tt.date, got, tt.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Status: 403, Message: "node removed"}, "403 Forbidden: node removed"},
		{Error{Status: 500, Server: "coordinator"}, "coordinator error: 500 Internal Server Error"},
		{Error{Status: 503, Message: "storage unavailable", Server: "coordinator"}, "coordinator error: 503 Service Unavailable: storage unavailable"},
		{Error{Status: 502, Message: "dial cam1:22: refused"}, "server error: 502 Bad Gateway: dial cam1:22: refused"},
		{Error{Status: 400, Message: "invalid policy", Problems: []string{"p.hujson:3:5: unknown group", "p.hujson:9:1: bad port"}},
			"400 Bad Request: invalid policy:\np.hujson:3:5: unknown group\np.hujson:9:1: bad port"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestAPIErrorIs: each status the node acts on matches its sentinel and
// no other; a 426 (the coordinator no longer serves this protocol
// version) is permanent.
func TestErrorIs(t *testing.T) {
	sentinels := []error{ErrUnauthorized, ErrForbidden, ErrRateLimited, ErrUpgradeRequired}
	tests := []struct {
		status    int
		want      error
		permanent bool
	}{
		{http.StatusUnauthorized, ErrUnauthorized, false},
		{http.StatusForbidden, ErrForbidden, true},
		{http.StatusTooManyRequests, ErrRateLimited, false},
		{http.StatusUpgradeRequired, ErrUpgradeRequired, true},
		{http.StatusBadRequest, nil, true},
		{http.StatusServiceUnavailable, nil, false},
	}
	for _, tt := range tests {
		var err error = &Error{Status: tt.status}
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("%d: errors.Is(%v) = %v", tt.status, s, got)
			}
		}
		if IsPermanent(err) != tt.permanent {
			t.Errorf("%d: permanent %v, want %v", tt.status, !tt.permanent, tt.permanent)
		}
	}
}
