package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// DefaultName is the TUN's name when New is given none: macOS picks
// the utun's number.
const DefaultName = "utun"

// privilege is what creating a TUN needs here.
const privilege = "needs root"

// configureInterface gives the TUN its addresses and MTU and routes the
// overlay ranges into it (see assignments and ifconfigCommands). IPv6
// failures are logged and leave IPv4 working.
func configureInterface(name string, mtu int, v4, v6 netip.Addr, log *slog.Logger) error {
	return configureByCommands(name, mtu, v4, v6, log, ifconfigCommands)
}

// addRoute is not built on this OS yet: subnet routes are reached through
// the proxies here.
func addRoute(name string, dst netip.Prefix, _ netip.Addr) error {
	return fmt.Errorf("route %v into %s: %w", dst, name, errRoutesUnsupported)
}

// delRoute: see addRoute.
func delRoute(name string, dst netip.Prefix) error {
	return fmt.Errorf("remove route %v from %s: %w", dst, name, errRoutesUnsupported)
}
