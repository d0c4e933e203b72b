//go:build !ward_omit_desktop

package main

import (
	"slices"
	"testing"

	"github.com/wardnet/ward/client"
)

// TestProxyAllowFlagReachesDaemon: `ward up --proxy-allow-non-loopback`
// passes the allowance on to the daemon it starts, and only when given.
func TestProxyAllowFlagReachesDaemon(t *testing.T) {
	f := daemonFlags{cfg: client.Config{StateDir: "/s", SOCKS5: "0.0.0.0:1080", AllowNonLoopbackProxy: true}}
	if !slices.Contains(f.args(), "--proxy-allow-non-loopback") {
		t.Errorf("args %q lack --proxy-allow-non-loopback", f.args())
	}
	f.cfg.AllowNonLoopbackProxy = false
	if slices.Contains(f.args(), "--proxy-allow-non-loopback") {
		t.Errorf("args %q allow a non-loopback proxy unasked", f.args())
	}
}
