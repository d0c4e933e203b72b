//go:build !ward_omit_update

package main

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardnet/ward/node/update"
)

// addUpdateFlags adds `ward node`'s flags for updates over the air
// (issue 16).
func addUpdateFlags(fl *pflag.FlagSet, f *nodeFlags) {
	fl.StringVar(&f.updateRoot, "update-root", "", "trust this TUF root metadata (ward release keygen's 1.root.json) for updates over the air; kept in --state-dir")
	fl.StringVar(&f.cfg.Model, "model", "", "this device's model label: updates signed for another model are refused")
	fl.DurationVar(&f.cfg.UpdateHealthWindow, "update-health-window", update.DefaultHealthWindow, "how long an updated agent has to re-join the coordinator before it goes back to the previous binary")
	fl.DurationVar(&f.cfg.UpdatePoll, "update-poll", update.DefaultPoll, "how often to ask the coordinator for an update")
}

// prepareUpdates installs the --update-root file in stateDir, if given.
func (f *nodeFlags) prepareUpdates(_ *cobra.Command, stateDir string) error {
	if f.updateRoot == "" {
		return nil
	}
	return update.InstallRoot(stateDir, f.updateRoot)
}

// restartIfUpdated turns the agent's update.ErrRestart (its binary was
// swapped or rolled back) into a restart of the new binary, after stop
// (which releases the signal handlers); other results pass through.
func restartIfUpdated(err error, stop func()) error {
	if !errors.Is(err, update.ErrRestart) {
		return err
	}
	stop()
	return update.Restart()
}
