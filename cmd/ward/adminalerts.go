//go:build !ward_omit_admin

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminAlertsCmd is `ward admin alerts`: list the alerts the rules
// fired and acknowledge them.
func newAdminAlertsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Alerts the rules fired (--alerts): list, acknowledge"}
	var state string
	var limit int
	list := &cobra.Command{Use: "list", Short: "List alerts, newest first (open ones by default)", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			q := url.Values{"state": {state}, "limit": {strconv.Itoa(limit)}}
			var as []wire.AdminAlert
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAlerts+"?"+q.Encode(), nil, &as); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), as)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tRULE\tSUBJECT\tSINCE\tSUMMARY")
			for _, a := range as {
				state := a.State
				if a.Inhibited {
					state += " (inhibited)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, state, a.Severity, a.Rule, a.Subject,
					a.StartsAt.Format(time.RFC3339), a.Summary)
			}
			return tw.Flush()
		})}
	list.Flags().StringVar(&state, "state", "open", "open (firing or acknowledged), firing, acknowledged, resolved, event or all")
	list.Flags().IntVar(&limit, "limit", 200, "at most this many")
	ack := &cobra.Command{Use: "ack ID", Short: "Acknowledge a firing alert (it stays open until its condition ends)", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("alert ID %q is not a number", args[0])
			}
			var a wire.AdminAlert
			if err := c.do(cmd.Context(), http.MethodPost, fmt.Sprintf("%s/%d/ack", wire.PathAdminAlerts, id), nil, &a); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %d acknowledged by %s\n", a.ID, a.AckedBy)
			return nil
		})}
	cmd.AddCommand(list, ack)
	return cmd
}
