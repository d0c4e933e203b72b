//go:build !ward_omit_admin

package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminRoutesCmd is `ward admin routes`: the subnet routes nodes
// advertise, and their approval.
func newAdminRoutesCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "routes", Short: "List, approve and reject the subnet routes nodes advertise"}
	list := &cobra.Command{Use: "list", Short: "List every advertised or approved route and its state", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			ns, err := listNodes(cmd.Context(), c, nil, 0)
			if err != nil {
				return err
			}
			return printRoutes(cmd, f, ns)
		})}
	change := func(use, short string, approve bool) *cobra.Command {
		return &cobra.Command{Use: use + " NODE ROUTE...", Short: short, Args: cobra.MinimumNArgs(2),
			RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
				var req wire.RoutesRequest
				for _, a := range args[1:] {
					p, err := netip.ParsePrefix(a)
					if err != nil {
						return fmt.Errorf("route %q: %w", a, err)
					}
					if approve {
						req.Approve = append(req.Approve, p)
					} else {
						req.Reject = append(req.Reject, p)
					}
				}
				var n wire.AdminNode
				if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminNodes+"/"+url.PathEscape(args[0])+"/routes", req, &n); err != nil {
					return err
				}
				return printRoutes(cmd, f, []wire.AdminNode{n})
			})}
	}
	cmd.AddCommand(list,
		change("approve", "Approve routes of a node (they carry traffic while it advertises them)", true),
		change("reject", "Take routes out of a node's approved ones (the autoApprovers may still approve them)", false))
	return cmd
}

// printRoutes prints the routes of ns, as a table or (--json) a list.
func printRoutes(cmd *cobra.Command, f *adminFlags, ns []wire.AdminNode) error {
	if f.asJSON {
		return writeJSON(cmd.OutOrStdout(), routeRows(ns))
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROUTE\tADVERTISED\tAPPROVED\tIN USE\tPRIMARY")
	for _, r := range routeRows(ns) {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\t%v\n", r.Node, r.Route, r.Advertised, r.Approved, r.InUse, r.Primary)
	}
	return tw.Flush()
}

// routeRows lists every route nodes advertise or have approved.
func routeRows(ns []wire.AdminNode) []wire.RouteState {
	var out []wire.RouteState
	for _, n := range ns {
		out = append(out, n.RouteStates()...)
	}
	return out
}
