package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
)

// command is one program run to configure the TUN where the OS offers no
// library for it (macOS: ifconfig.go; Windows: netsh.go).
type command struct {
	args []string
	// optional failures are logged and leave the others working (IPv6
	// disabled on the host).
	optional bool
}

// runCommands runs cmds in order for the interface name; the first
// failure of one not optional ends the run.
func runCommands(name string, cmds []command, log *slog.Logger) error {
	for _, c := range cmds {
		out, err := exec.Command(c.args[0], c.args[1:]...).CombinedOutput()
		if err == nil {
			continue
		}
		err = fmt.Errorf("configure %s: %s: %w: %s", name, strings.Join(c.args, " "), err, strings.TrimSpace(string(out)))
		if !c.optional {
			return err
		}
		log.Warn("tun setting not applied", "interface", name, "err", err)
	}
	return nil
}

// configureByCommands gives the TUN name its addresses v4 and v6 (see
// assignments), its MTU and the routes into it with the commands build
// returns for them, where the OS is configured by programs (macOS,
// Windows).
func configureByCommands(name string, mtu int, v4, v6 netip.Addr, log *slog.Logger, build func(string, int, []assignment) []command) error {
	as, err := assignments(v4, v6)
	if err != nil {
		return fmt.Errorf("configure %s: %w", name, err)
	}
	return runCommands(name, build(name, mtu, as), log)
}
