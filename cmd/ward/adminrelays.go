//go:build !ward_omit_admin

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminRelaysCmd is `ward admin relays`: register, list and remove
// standalone relays.
func newAdminRelaysCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "relays", Short: "Standalone relays (ward relay)"}
	var relayURL, relaySTUN string
	add := &cobra.Command{Use: "add NAME --url wss://HOST/ward/v1/relay", Short: "Register a relay; prints its credential once", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var r wire.AdminRelay
			req := wire.CreateRelayRequest{Name: args[0], URL: relayURL, STUN: relaySTUN}
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminRelays, req, &r); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.Secret)
			return nil
		})}
	add.Flags().StringVar(&relayURL, "url", "", "the relay's URL as nodes reach it (wss://host[:port]"+wire.PathRelay+")")
	add.MarkFlagRequired("url")
	add.Flags().StringVar(&relaySTUN, "stun", "", "where the relay answers STUN as nodes reach it (host:port, its --stun-listen): nodes measure their distance to it there")
	list := &cobra.Command{Use: "list", Short: "List registered relays", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var rs []wire.AdminRelay
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminRelays, nil, &rs); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), rs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tURL\tPREFIX\tCONNECTED\tCREATED")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.URL, r.Prefix, r.Connected, r.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})}
	remove := &cobra.Command{Use: "remove NAME", Short: "Remove a relay: maps stop listing it and its credential stops working", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			return c.do(cmd.Context(), http.MethodDelete, wire.PathAdminRelays+"/"+url.PathEscape(args[0]), nil, nil)
		})}
	cmd.AddCommand(add, list, remove)
	return cmd
}
