package tunnel

import (
	"fmt"
	"log/slog"
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
