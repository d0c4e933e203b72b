//go:build ward_omit_desktop

package main

import "github.com/spf13/cobra"

// newClientCmds stands in for the desktop client's commands (up, login,
// down, daemon: a person's login, TUN mode, the HTTP proxy and status
// page), which a device does not run; `ward ssh` stays.
func newClientCmds() []*cobra.Command {
	const tag = "ward_omit_desktop"
	return []*cobra.Command{omitted("up", tag), omitted("login", tag), omitted("down", tag), omitted("daemon", tag), newSSHCmd()}
}
