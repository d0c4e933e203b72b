package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// DefaultName is the TUN's name when New is given none: macOS picks the utun's number.
const DefaultName = "utun"

// privilege is what creating a TUN needs here.
const privilege = "needs root"

// configureInterface gives the TUN its addresses and MTU and routes the
// overlay ranges into it (see assignments and ifconfigCommands). IPv6 failures
// are logged and leave IPv4 working.
func configureInterface(name string, mtu int, v4, v6 netip.Addr, log *slog.Logger) error {
	as, err := assignments(v4, v6)
	if err != nil {
		return fmt.Errorf("configure %s: %w", name, err)
	}
	return runCommands(name, ifconfigCommands(name, mtu, as), log)
}
