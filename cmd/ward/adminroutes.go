package main

import (
	"cmp"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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
			var ns []wire.AdminNode
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminNodes, nil, &ns); err != nil {
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

// routeRow is one route of one node in `ward admin routes list`.
type routeRow struct {
	Node       string       `json:"node"`
	Route      netip.Prefix `json:"route"`
	Advertised bool         `json:"advertised"`
	Approved   bool         `json:"approved"`
	InUse      bool         `json:"in_use"`
	Primary    bool         `json:"primary"`
}

// routeRows lists every route nodes advertise or have approved.
func routeRows(ns []wire.AdminNode) []routeRow {
	var out []routeRow
	for _, n := range ns {
		all := append(slices.Clone(n.AdvertisedRoutes), n.ApprovedRoutes...)
		slices.SortFunc(all, func(a, b netip.Prefix) int { return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits()) })
		for _, r := range slices.Compact(all) {
			out = append(out, routeRow{Node: n.Name, Route: r, Advertised: slices.Contains(n.AdvertisedRoutes, r),
				Approved: slices.Contains(n.ApprovedRoutes, r), InUse: slices.Contains(n.Routes, r), Primary: slices.Contains(n.PrimaryRoutes, r)})
		}
	}
	return out
}
