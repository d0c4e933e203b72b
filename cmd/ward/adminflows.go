//go:build !ward_omit_admin

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/wire"
)

// newAdminFlowsCmd is `ward admin flows`: the flow logs, filtered as on
// the admin UI's Flows page; --json prints JSON lines (the export shape).
func newAdminFlowsCmd(f *adminFlags) *cobra.Command {
	var node, since, until string
	var denied bool
	var limit int
	cmd := &cobra.Command{Use: "flows", Short: "Read the flow logs (--json: JSON lines)", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"node": node, "since": since, "until": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if denied {
				q.Set("denied", "true")
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var fs []wire.AdminFlow
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminFlows+"?"+q.Encode(), nil, &fs); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONLines(cmd.OutOrStdout(), fs)
			}
			return writeFlowTable(cmd.OutOrStdout(), fs)
		})}
	fl := cmd.Flags()
	fl.StringVar(&node, "node", "", "only flows reported by, from or to this device")
	fl.StringVar(&since, "since", "", "only flows that ended after this time (RFC 3339) or this long ago (1h)")
	fl.StringVar(&until, "until", "", "only flows that ended before this time (RFC 3339)")
	fl.BoolVar(&denied, "denied", false, "only denied flows")
	fl.IntVar(&limit, "limit", 0, "at most this many records (newest first)")
	return cmd
}

// writeJSONLines writes one JSON value per line.
func writeJSONLines[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(w)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write json lines: %w", err)
		}
	}
	return nil
}

// writeFlowTable prints flow records as a table, newest first.
func writeFlowTable(w io.Writer, fs []wire.AdminFlow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "END\tREPORTER\tFROM\tTO\tPROTO/PORT\tVERDICT\tRULE\tSENT/RECV\tCOUNT")
	for _, x := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s %s\t%s\t%d/%d\t%d\n", x.End.Format(time.RFC3339), x.Reporter,
			flowSide(x.SrcNode, x.SrcWho, x.Src.String()), flowSide(x.DstNode, x.DstWho, x.Dst.String()),
			x.Proto, x.Port, x.Verdict, x.Direction, x.Rule, x.BytesSent, x.BytesRecv, x.Count)
	}
	return tw.Flush()
}

// flowSide names one end of a flow: its node and owner, else its address.
func flowSide(node, who, addr string) string {
	switch {
	case node == "":
		return addr
	case who == "":
		return node
	}
	return node + " (" + who + ")"
}
