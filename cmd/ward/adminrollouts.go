//go:build !ward_omit_admin

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminRolloutsCmd is `ward admin rollouts
// create|list|show|pause|resume|abort`.
func newAdminRolloutsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "rollouts", Short: "Updates over the air: roll a signed target out to devices in waves; list, show, pause, resume or abort rollouts"}
	list := &cobra.Command{Use: "list", Short: "List rollouts, newest first", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var rs []wire.Rollout
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminRollouts, nil, &rs); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), rs)
			}
			for _, r := range rs {
				printRollout(cmd.OutOrStdout(), r)
			}
			return nil
		})}
	show := &cobra.Command{Use: "show ID", Short: "Show a rollout with its devices' states per wave", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			return rolloutCall(cmd, c, f, http.MethodGet, wire.PathAdminRollouts+"/"+url.PathEscape(args[0]), nil)
		})}
	cmd.AddCommand(newRolloutCreateCmd(f), list, show)
	for _, verb := range []string{"pause", "resume", "abort"} {
		cmd.AddCommand(&cobra.Command{Use: verb + " ID", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a rollout", Args: cobra.ExactArgs(1),
			RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
				return rolloutCall(cmd, c, f, http.MethodPost, wire.PathAdminRollouts+"/"+url.PathEscape(args[0])+"/"+verb, nil)
			})})
	}
	return cmd
}

// newRolloutCreateCmd is `ward admin rollouts create`.
func newRolloutCreateCmd(f *adminFlags) *cobra.Command {
	var req wire.RolloutCreate
	var waves string
	var soak, timeout time.Duration
	cmd := &cobra.Command{Use: "create", Short: "Start a rollout of a target to the devices chosen by --tag, --group and --device", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			req.Waves = strings.Split(waves, ",")
			req.SoakMillis, req.TimeoutMillis = soak.Milliseconds(), timeout.Milliseconds()
			return rolloutCall(cmd, c, f, http.MethodPost, wire.PathAdminRollouts, req)
		})}
	fl := cmd.Flags()
	fl.StringVar(&req.Target, "target", "", "the TUF target's path in the repository (ward/linux-arm64/ward-1.4.0)")
	fl.StringVar(&req.Kind, "kind", wire.UpdateKindArtifact, "what the target is: ward (the agent) or artifact (the device's software)")
	fl.StringVar(&req.Version, "version", "", "the version the target carries")
	fl.StringSliceVar(&req.Tags, "tag", nil, "select the devices with this tag (tag:name; repeatable)")
	fl.StringSliceVar(&req.Groups, "group", nil, "select the devices of this group's members (repeatable)")
	fl.StringSliceVar(&req.Devices, "device", nil, "select this device, by name or id (repeatable)")
	fl.StringVar(&waves, "waves", "5,5%,25%,100%", "the waves' sizes, in order: a count of devices or a share of those selected; the last takes the rest")
	fl.DurationVar(&soak, "soak", 10*time.Minute, "how long a wave must stay healthy before the next starts")
	fl.StringVar(&req.SuccessGate, "success-gate", "100%", "healthy devices (a count or a share of the wave) that let a wave end")
	fl.StringVar(&req.FailureGate, "failure-gate", "1", "failed devices (a count or a share of those ended) that pause the rollout")
	fl.IntVar(&req.MinSample, "min-sample", 0, "devices that must have ended before the failure gate is judged")
	fl.DurationVar(&timeout, "timeout", 30*time.Minute, "how long a device may take to a final state before it counts as failed")
	return cmd
}

// rolloutCall sends one rollout request and prints the rollout it
// answers with.
func rolloutCall(cmd *cobra.Command, c *adminClient, f *adminFlags, method, path string, body any) error {
	var r wire.Rollout
	if err := c.do(cmd.Context(), method, path, body, &r); err != nil {
		return err
	}
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), r)
	}
	printRollout(cmd.OutOrStdout(), r)
	for i, w := range r.Progress {
		fmt.Fprintf(cmd.OutOrStdout(), "  wave %d:", i+1)
		for _, d := range w.Devices {
			fmt.Fprintf(cmd.OutOrStdout(), " %s=%s", d.Node, d.State)
		}
		fmt.Fprintln(cmd.OutOrStdout())
	}
	return nil
}

// printRollout prints a rollout's line.
func printRollout(w io.Writer, r wire.Rollout) {
	line := fmt.Sprintf("rollout %d: %s %s (%s) %s, wave %d of %d, by %s", r.ID, r.Kind, r.Target, r.Version, r.Status,
		r.Wave+1, len(r.Waves), r.CreatedBy)
	if r.PauseReason != "" {
		line += ": " + r.PauseReason
	}
	fmt.Fprintln(w, line)
}
