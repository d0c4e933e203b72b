//go:build !ward_omit_admin

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
		fmt.Fprintf(cmd.OutOrStdout(), "%s (id %d)\n  name: %s\n  issuer: %s\n  subject: %s\n  groups: %s\n  policy groups: %s\n  disabled: %v\n  last login: %s\n  nodes: %s\n",
			u.Email, u.ID, u.Name, u.Issuer, u.Subject, strings.Join(u.Groups, ", "), strings.Join(u.PolicyGroups, ", "), u.Disabled,
			u.LastLogin.Format(time.RFC3339), strings.Join(u.Nodes, ", "))
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
		newAdminUsersRebindCmd(f, printUser), newAdminUsersMigrateIssuerCmd(f))
	return cmd
}

// newAdminUsersMigrateIssuerCmd is `ward admin users migrate-issuer`.
func newAdminUsersMigrateIssuerCmd(f *adminFlags) *cobra.Command {
	var req wire.MigrateIssuerRequest
	cmd := &cobra.Command{Use: "migrate-issuer --from OLD --to NEW [--dry-run]", Args: cobra.NoArgs,
		Short: "Move every user of an old issuer URL to a new one (same IdP, new URL)",
		Long: "A person is an issuer and a subject: after the identity provider's issuer URL changes, each\n" +
			"person would log in as a new user, without their nodes, keys or history. This moves every user\n" +
			"of OLD to NEW, keeping them. Use it only when NEW is the same identity provider under a new URL\n" +
			"(the subjects are the same people). It changes nothing if a user of NEW already has the subject\n" +
			"of a user of OLD (someone logged in after the switch). --dry-run prints what it would do.",
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			if req.From == "" || req.To == "" {
				return fmt.Errorf("--from and --to are required")
			}
			var res wire.MigrateIssuerResult
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminMigrateIssuer, req, &res); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			verb := "moved"
			if res.DryRun {
				verb = "would move"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %d users from %s to %s\n", verb, len(res.Users), req.From, req.To)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tSUBJECT\tNODES")
			for _, u := range res.Users {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", u.ID, u.Email, u.Subject, len(u.Nodes))
			}
			return tw.Flush()
		})}
	cmd.Flags().StringVar(&req.From, "from", "", "the old issuer URL, exactly as `ward admin users show` prints it")
	cmd.Flags().StringVar(&req.To, "to", "", "the new issuer URL (the coordinator's --oidc-issuer)")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "change nothing; print who would move")
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
