package desktop

import (
	"path"
	"strings"
)

// systemdUnit names Ward's systemd user unit.
const systemdUnit = "ward.service"

// linuxStateDir is /var/lib/ward for root, else ~/.local/state/ward
// (the XDG base directories' default; XDG_STATE_HOME is not followed, so
// that a state directory made before stays where it is).
func linuxStateDir(e Env) string {
	if e.root() {
		return "/var/lib/ward"
	}
	if e.Home == "" {
		return "ward-state"
	}
	return path.Join(e.Home, ".local", "state", "ward")
}

// linuxAutostart is a systemd user unit in
// $XDG_CONFIG_HOME/systemd/user (~/.config by default), enabled for the
// user's default target and started at once, its output appended to
// logFile ("": the journal).
func linuxAutostart(e Env, args []string, logFile string) Autostart {
	config := e.getenv("XDG_CONFIG_HOME")
	if !path.IsAbs(config) {
		config = path.Join(e.Home, ".config")
	}
	return Autostart{
		Path:    path.Join(config, "systemd", "user", systemdUnit),
		Content: unitFile(args, logFile),
		Enable:  [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", systemdUnit}},
		Disable: [][]string{{"systemctl", "--user", "disable", "--now", systemdUnit}},
		Cleanup: [][]string{{"systemctl", "--user", "daemon-reload"}},
	}
}

// unitFile is the unit's text.
func unitFile(args []string, logFile string) []byte {
	output := ""
	if logFile != "" {
		f := strings.ReplaceAll(logFile, "%", "%%")
		output = "StandardOutput=append:" + f + "\nStandardError=append:" + f + "\n"
	}
	return []byte(`[Unit]
Description=Ward desktop client
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=` + execLine(args) + `
Restart=on-failure
RestartSec=5
` + output + `
[Install]
WantedBy=default.target
`)
}

// execLine joins args for ExecStart=: each argument in double quotes
// when it holds a space, quote or backslash (C-style escapes inside),
// and % and $ doubled, since systemd expands them.
func execLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		a = strings.NewReplacer("%", "%%", "$", "$$").Replace(a)
		if a == "" || strings.ContainsAny(a, " \t\"'\\;") {
			a = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
