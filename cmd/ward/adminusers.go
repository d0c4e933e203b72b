package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

func newAdminUsersCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "People known through SSO"}
	printUser := func(cmd *cobra.Command, u wire.AdminUser) error {
		if f.asJSON {
			return writeJSON(cmd.OutOrStdout(), u)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s (id %d)\n  name: %s\n  groups: %s\n  disabled: %v\n  last login: %s\n  nodes: %s\n",
			u.Email, u.ID, u.Name, strings.Join(u.Groups, ", "), u.Disabled, u.LastLogin.Format(time.RFC3339), strings.Join(u.Nodes, ", "))
		return nil
	}
	list := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var us []wire.AdminUser
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminUsers, nil, &us); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), us)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tGROUPS\tDISABLED\tNODES\tLAST LOGIN")
			for _, u := range us {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%d\t%s\n", u.ID, u.Email, strings.Join(u.Groups, ","), u.Disabled, len(u.Nodes), u.LastLogin.Format(time.RFC3339))
			}
			return tw.Flush()
		})}
	one := func(use, short, method, suffix string) *cobra.Command {
		return &cobra.Command{Use: use + " USER", Short: short, Args: cobra.ExactArgs(1),
			RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
				var u wire.AdminUser
				if err := c.do(cmd.Context(), method, wire.PathAdminUsers+"/"+url.PathEscape(args[0])+suffix, nil, &u); err != nil {
					return err
				}
				return printUser(cmd, u)
			})}
	}
	cmd.AddCommand(list,
		one("show", "Show a user (id or email)", http.MethodGet, ""),
		one("disable", "Disable a user (id, or an email only one user has), cut every key of theirs and end their admin sessions", http.MethodPost, "/disable"),
		one("enable", "Re-enable a user (they must log in again)", http.MethodPost, "/enable"),
		newAdminUsersRebindCmd(f, printUser))
	return cmd
}

// newAdminUsersRebindCmd is `ward admin users rebind EMAIL --to-subject SUB`.
func newAdminUsersRebindCmd(f *adminFlags, printUser func(*cobra.Command, wire.AdminUser) error) *cobra.Command {
	var req wire.RebindUserRequest
	cmd := &cobra.Command{Use: "rebind EMAIL --to-subject SUBJECT", Args: cobra.ExactArgs(1),
		Short: "Give an email to another account of the identity provider",
		Long: "An email names one person: the first IdP subject that logged in with it. A login by another\n" +
			"subject claiming it is refused (audit: user.login_refused, with its issuer and subject) until an\n" +
			"admin decides with this command. The email's other holders lose it and are disabled, and their\n" +
			"keys are cut; the subject given may then log in with it.",
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			if req.Subject == "" {
				return fmt.Errorf("--to-subject is required")
			}
			var u wire.AdminUser
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminUsers+"/"+url.PathEscape(args[0])+"/rebind", req, &u); err != nil {
				return err
			}
			return printUser(cmd, u)
		})}
	cmd.Flags().StringVar(&req.Subject, "to-subject", "", "the IdP subject (sub claim) that is to hold the email")
	cmd.Flags().StringVar(&req.Issuer, "issuer", "", "the subject's issuer (default: that of the email's current holder)")
	return cmd
}
