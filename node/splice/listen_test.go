package splice

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestProxyRefusesNonLoopbackListen: a local proxy listens on loopback
// only; an address that reaches other machines needs the explicit
// allowance, and is then logged as a warning.
func TestProxyRefusesNonLoopbackListen(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.9.8.7:0", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"[::]:0", false},
		{"192.0.2.1:1080", false},
		{"example.com:1080", false},
		{"no-port", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			l, err := Listen(tt.addr, false, "socks5", slog.New(slog.DiscardHandler))
			if tt.ok {
				if err != nil {
					t.Fatalf("Listen(%q): %v", tt.addr, err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("Listen(%q) served a proxy beyond loopback", tt.addr)
			}
			if tt.addr != "no-port" && !errors.Is(err, ErrNotLoopback) {
				t.Fatalf("Listen(%q): %v, want ErrNotLoopback", tt.addr, err)
			}
		})
	}

	t.Run("explicitly allowed", func(t *testing.T) {
		var logs bytes.Buffer
		l, err := Listen("0.0.0.0:0", true, "socks5", slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("Listen with the allowance: %v", err)
		}
		l.Close()
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "non-loopback") {
			t.Fatalf("no warning logged: %q", logs.String())
		}
	})
}
