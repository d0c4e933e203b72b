//go:build !ward_omit_admin

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminAlertsCmd is `ward admin alerts`: list the alerts the rules
// fired and acknowledge them.
func newAdminAlertsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "Alerts the rules fired: list, acknowledge; the rules themselves"}
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
	cmd.AddCommand(list, ack, newAdminAlertRulesCmd(f))
	return cmd
}

// sentAlertRulesName is what the coordinator calls alert rules sent to
// it, in its problems ("alert-rules:3:7: ...").
const sentAlertRulesName = "alert-rules"

// newAdminAlertRulesCmd is `ward admin alerts rules`: the alert rules in
// the store, versioned like the policy.
func newAdminAlertRulesCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "The alert rules in force: get, set, history, rollback"}
	get := &cobra.Command{Use: "get", Short: "Print the alert rules in force", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var v wire.PolicyVersion
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAlertRules, nil, &v); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprint(cmd.OutOrStdout(), v.Text)
			return nil
		})}
	var comment string
	var parent int64
	set := &cobra.Command{Use: "set FILE", Short: "Check and save alert rules; they take effect at once", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			text, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read alert rules: %w", err)
			}
			return saveAlertRules(cmd, f, c, wire.SetPolicyRequest{Text: string(text), Comment: comment, ParentID: parent}, args[0])
		})}
	set.Flags().StringVar(&comment, "comment", "", "why the rules change")
	set.Flags().Int64Var(&parent, "parent", -1, "refuse the save if the latest version is not this one (-1: no check)")
	history := &cobra.Command{Use: "history", Short: "List the alert rules' versions", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var vs []wire.PolicyVersion
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAlertRulesVersions, nil, &vs); err != nil {
				return err
			}
			return printVersions(cmd.OutOrStdout(), f.asJSON, vs)
		})}
	rollback := &cobra.Command{Use: "rollback VERSION", Short: "Save an old version's rules as the new version", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("version %q is not a number", args[0])
			}
			var old, cur wire.PolicyVersion
			if err := c.do(cmd.Context(), http.MethodGet, fmt.Sprintf("%s/%d", wire.PathAdminAlertRulesVersions, id), nil, &old); err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAlertRules, nil, &cur); err != nil {
				return err
			}
			req := wire.SetPolicyRequest{Text: old.Text, Comment: fmt.Sprintf("roll back to version %d", id), ParentID: cur.ID}
			return saveAlertRules(cmd, f, c, req, fmt.Sprintf("version %d", id))
		})}
	cmd.AddCommand(get, set, history, rollback)
	return cmd
}

// saveAlertRules sends req; problems are placed in from (a file name).
func saveAlertRules(cmd *cobra.Command, f *adminFlags, c *adminClient, req wire.SetPolicyRequest, from string) error {
	var v wire.PolicyVersion
	if err := c.do(cmd.Context(), http.MethodPut, wire.PathAdminAlertRules, req, &v); err != nil {
		return inFileNamed(err, from, sentAlertRulesName)
	}
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "alert rules version %d is in force\n", v.ID)
	return nil
}
