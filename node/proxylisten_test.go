package node

import (
	"errors"
	"testing"

	"github.com/wardnet/ward/node/splice"
)

// TestProxyRefusesNonLoopbackListen: `ward node --socks5 0.0.0.0:0` would
// serve the device's identity to the LAN without credentials; the agent
// refuses it unless explicitly allowed.
func TestProxyRefusesNonLoopbackListen(t *testing.T) {
	cfg := AgentConfig{StateDir: t.TempDir(), Coordinator: "http://127.0.0.1:1", AllowInsecureHTTP: true,
		SOCKS5: "0.0.0.0:0", Logger: quiet}
	if _, err := NewAgent(cfg); !errors.Is(err, splice.ErrNotLoopback) {
		t.Fatalf("NewAgent: %v, want ErrNotLoopback", err)
	}
	cfg.AllowNonLoopbackProxy = true
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatalf("NewAgent with the allowance: %v", err)
	}
	a.Engine().Close()
}
