package dashboard

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{CLIFlags: "--state-dir /x", SSHUser: "ops", Page: func() Page {
		return Page{State: "logged-in", User: "alice@example.com", KeyExpiry: time.Now().Add(time.Hour),
			Devices: []Device{{Name: "cam1", Addr: "100.64.0.1", Owner: "tag:camera", Ports: []uint16{22, 8080}, Granted: "tcp 22, 8080-8090"}}}
	}, Logout: func(context.Context) error { return nil }}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPageShowsCommands(t *testing.T) {
	s := newServer(t)
	r := httptest.NewRequest("GET", s.URL(), nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	body := w.Body.String()
	for _, want := range []string{"ward ssh --state-dir /x ops@cam1", "ward forward --state-dir /x 10022 cam1:22", "ward forward --state-dir /x 8080 cam1:8080", "alice@example.com",
		"the policy grants you tcp 22, 8080-8090"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestRefusals(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name, method, target, host, origin, site string
		want                                     int
	}{
		{"ok", "GET", s.URL(), "127.0.0.1:4000", "", "", 200},
		{"rebinding", "GET", s.URL(), "evil.example", "", "", 403},
		{"other port", "GET", s.URL(), "127.0.0.1:4001", "", "", 403},
		{"no token", "GET", "http://127.0.0.1:4000/", "127.0.0.1:4000", "", "", 403},
		{"token prefix", "GET", "http://127.0.0.1:4000/t/" + s.token[:10] + "/", "127.0.0.1:4000", "", "", 403},
		{"logout by GET", "GET", s.URL() + "logout", "127.0.0.1:4000", "", "", 405},
		{"cross-site logout", "POST", s.URL() + "logout", "127.0.0.1:4000", "", "cross-site", 403},
		{"foreign origin logout", "POST", s.URL() + "logout", "127.0.0.1:4000", "http://evil.example", "", 403},
		{"same-origin logout", "POST", s.URL() + "logout", "127.0.0.1:4000", "http://127.0.0.1:4000", "same-origin", 303},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.site != "" {
			r.Header.Set("Sec-Fetch-Site", tt.site)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.want)
		}
		if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers missing: %v", tt.name, w.Header())
		}
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	_, err := New(Config{Page: func() Page { return Page{} }, Logout: func(context.Context) error { return nil }},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80})
	if err == nil {
		t.Fatal("served on a non-loopback address")
	}
	_ = http.StatusOK
}

// TestRequestStatus: the page says who decided a request, and until when
// an approval lasts.
func TestRequestStatus(t *testing.T) {
	end := time.Now().Add(time.Hour)
	tests := []struct {
		r    Request
		want string
	}{
		{Request{State: "pending"}, "pending"},
		{Request{State: "approved", DecidedBy: "user:bob@example.com", Expires: end}, "approved until " + end.Local().Format("15:04") + " by bob@example.com"},
		{Request{State: "approved", DecidedBy: "user:bob@example.com", Expires: end.Add(-2 * time.Hour)}, "approved by bob@example.com, ended " + end.Add(-2*time.Hour).Local().Format("15:04")},
		{Request{State: "denied", DecidedBy: "user:bob@example.com"}, "denied by bob@example.com"},
	}
	for _, tt := range tests {
		if got := tt.r.Status(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.r, got, tt.want)
		}
	}
}
