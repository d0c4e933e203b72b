//go:build !linux

package splitdns

import (
	"fmt"
	"net/netip"
)

// resolvedAvailable: systemd-resolved runs on Linux only.
func resolvedAvailable() bool { return false }

func resolvedInstall(string, netip.Addr, string) (func() error, error) {
	return nil, fmt.Errorf("systemd-resolved: %w", ErrUnsupported)
}
