//go:build ward_omit_update

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// updateFlags are `ward node`'s flags for updates over the air, which a
// build with -tags ward_omit_update leaves out (with node/update and
// go-tuf): they stay as hidden flags so that using one says why.
var updateFlags = []string{"update-root", "model", "update-health-window", "update-poll"}

// addUpdateFlags adds updateFlags, hidden.
func addUpdateFlags(fl *pflag.FlagSet, _ *nodeFlags) {
	for _, name := range updateFlags {
		fl.String(name, "", "not in this build (ward_omit_update)")
		fl.MarkHidden(name)
	}
}

// prepareUpdates refuses an update flag: this agent does not update
// itself.
func (*nodeFlags) prepareUpdates(cmd *cobra.Command, _ string) error {
	for _, name := range updateFlags {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s: updates over the air are not in this build (built with -tags ward_omit_update; use the full build)", name)
		}
	}
	return nil
}

// restartIfUpdated returns err: without the updater there is no restart.
func restartIfUpdated(err error, _ func()) error { return err }
