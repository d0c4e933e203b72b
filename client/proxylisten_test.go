package client_test

import (
	"errors"
	"testing"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/node/splice"
)

// TestProxyRefusesNonLoopbackListen: `ward up --socks5 0.0.0.0:0` (or
// --http-proxy) would serve the person's identity to the LAN without
// credentials; the daemon refuses it unless explicitly allowed.
func TestProxyRefusesNonLoopbackListen(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  client.Config
	}{
		{"socks5 on every interface", client.Config{SOCKS5: "0.0.0.0:0"}},
		{"socks5 with no host", client.Config{SOCKS5: ":1080"}},
		{"http proxy on every interface", client.Config{HTTPProxy: "[::]:0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.StateDir = t.TempDir()
			if _, err := client.New(cfg); !errors.Is(err, splice.ErrNotLoopback) {
				t.Fatalf("New: %v, want ErrNotLoopback", err)
			}
			cfg.AllowNonLoopbackProxy = true
			if _, err := client.New(cfg); err != nil {
				t.Fatalf("New with the allowance: %v", err)
			}
		})
	}
}
