package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/node/localapi"
)

func newStatusCmd() *cobra.Command {
	var dir string
	var asJSON, openDir bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show this node (or the desktop client's login) and its peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if openDir {
				return openStateDir(dir)
			}
			st, err := apiClient(dir).Status(cmd.Context())
			if err != nil {
				return notRunning(dir, err)
			}
			switch {
			case asJSON:
				return writeJSON(cmd.OutOrStdout(), st)
			case st.Person != nil: // a desktop client
				printClientStatus(cmd.OutOrStdout(), st, time.Now())
			default:
				printStatus(cmd.OutOrStdout(), st, time.Now())
			}
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().BoolVar(&openDir, "open-state-dir", false, "open the state directory (keys, daemon.log) in the file manager instead")
	return cmd
}

// openStateDir shows dir in the person's file manager (Finder, Explorer,
// or what xdg-open picks).
func openStateDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return desktop.Start(desktop.Host().OpenCommand(abs))
}

// printStatus prints st for a person.
func printStatus(w io.Writer, st localapi.Status, now time.Time) {
	conn := "disconnected"
	if st.Connected {
		conn = "connected"
	}
	fmt.Fprintf(w, "%s (node %d)  %s  %s  %s\n", orDash(st.Self.Name), st.Self.ID, orDash(st.Self.FQDN),
		addrOrDash(st.Self.IPv4.String(), st.Self.IPv4.IsValid()), addrOrDash(st.Self.IPv6.String(), st.Self.IPv6.IsValid()))
	fmt.Fprintf(w, "coordinator %s: %s, map version %d\n", st.Coordinator, conn, st.MapVersion)
	fmt.Fprintf(w, "key %s; listen port %d; exposed %v\n", keyLife(st.Self.KeyExpiry, now), st.Self.ListenPort, st.Self.Exposed)
	if st.KeyRefused != "" {
		fmt.Fprintf(w, "key rotation refused by the coordinator: %s\n", st.KeyRefused)
	}
	fmt.Fprintf(w, "filter: %d allowed, %d denied, %d revoked\n", st.Filter.Allowed, st.Filter.Denied, st.Filter.Revoked)
	printPaths(w, st.Paths)
	if len(st.Peers) == 0 {
		fmt.Fprintln(w, "no peers")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tDNS NAME\tADDRESS\tOWNER\tPATH\tLATENCY\tHANDSHAKE\tRX\tTX\tKEY EXPIRES")
	var notes []string
	for _, p := range st.Peers {
		path := pathText(p)
		if !p.Active {
			path = "inactive (key expired)"
		} else if p.PathNote != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", p.Name, p.PathNote))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, orDash(p.FQDN), addrOrDash(p.IPv4.String(), p.IPv4.IsValid()), owner(p),
			path, latency(p.PathRTT), ago(p.LastHandshake, now), humanize.IBytes(p.RxBytes), humanize.IBytes(p.TxBytes), when(p.KeyExpiry, now))
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// printPaths prints the node's reflexive address, relay and bytes per
// path type.
func printPaths(w io.Writer, ps localapi.Paths) {
	relay := "none"
	if ps.Relay != "" {
		relay = ps.Relay + " (disconnected)"
		if ps.RelayConnected {
			relay = ps.Relay + " (connected)"
		}
	}
	nat := ""
	if ps.NAT != "" {
		nat = " (NAT " + ps.NAT + ")"
	}
	fmt.Fprintf(w, "paths: reflexive %s%s; relay %s; direct %s out %s in; relayed %s out %s in\n\n",
		addrOrDash(ps.Reflexive.String(), ps.Reflexive.IsValid()), nat, relay, humanize.IBytes(ps.DirectTxBytes),
		humanize.IBytes(ps.DirectRxBytes), humanize.IBytes(ps.RelayTxBytes), humanize.IBytes(ps.RelayRxBytes))
}

// pathText names peer p's path: "direct <address>" or "relay <name>".
func pathText(p localapi.Peer) string {
	switch {
	case p.Path == "direct" && p.Endpoint.IsValid():
		return "direct " + p.Endpoint.String()
	case p.Path == "relay" && p.Relay != "":
		return "relay " + p.Relay
	}
	return p.Path
}

// latency prints a round trip, "-" when unknown.
func latency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}

func owner(p localapi.Peer) string {
	if p.User != "" {
		return p.User
	}
	return orDash(strings.Join(p.Tags, ","))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addrOrDash(s string, ok bool) string {
	if !ok {
		return "-"
	}
	return s
}

// when formats an expiry time.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if !t.After(now) {
		return "expired " + humanize.RelTime(t, now, "ago", "from now")
	}
	return "in " + t.Sub(now).Round(time.Second).String()
}

// keyLife says when a key expires, or that it did.
func keyLife(t, now time.Time) string {
	if !t.IsZero() && !t.After(now) {
		return when(t, now)
	}
	return "expires " + when(t, now)
}

// ago formats a past time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func newPingCmd() *cobra.Command {
	var dir string
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "ping PEER",
		Short: "Send a probe through the overlay to a peer and print the round-trip time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := apiClient(dir).Ping(cmd.Context(), args[0], timeout)
			if err != nil {
				return fmt.Errorf("ping %s: %w", args[0], notRunning(dir, err))
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			via := res.Path
			if res.Endpoint.IsValid() {
				via += " " + res.Endpoint.String()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pong from %s (%s) via %s in %s\n", res.Peer, res.Addr, via, res.RTT.Round(time.Microsecond))
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", pingTimeout, "give up after this long")
	return cmd
}
