package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// DefaultName is the TUN's name when New is given none: the Wintun
// adapter's name.
const DefaultName = "Ward"

// privilege is what creating a TUN needs here.
const privilege = "needs an administrator, and wintun.dll beside ward.exe"

// configureInterface gives the TUN its addresses and MTU and routes the
// overlay ranges into it (see assignments and netshCommands). IPv6
// failures are logged and leave IPv4 working.
func configureInterface(name string, mtu int, v4, v6 netip.Addr, log *slog.Logger) error {
	return configureByCommands(name, mtu, v4, v6, log, netshCommands)
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
