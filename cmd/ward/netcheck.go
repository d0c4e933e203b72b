package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/netcheck"
	"github.com/wardnet/ward/node/localapi"
)

// newNetcheckCmd returns `ward netcheck`.
func newNetcheckCmd() *cobra.Command {
	var coordinator string
	var servers []string
	var wait time.Duration
	var asJSON bool
	var dir string
	cmd := &cobra.Command{
		Use:   "netcheck",
		Short: "Report this machine's NAT type, reflexive address and UDP reachability",
		Long: "Asks STUN servers over UDP which address this machine's packets come from.\n" +
			"By default it asks the coordinator (the host and port of --coordinator, on UDP).\n" +
			"Telling endpoint-independent from symmetric NAT needs two servers or ports:\n" +
			"give --stun twice (e.g. the coordinator's --stun-listen and --stun-listen-alt).\n" +
			"When a node runs with --state-dir, its round trips to each relay and its home relay\n" +
			"are shown too.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addrs, err := stunServers(coordinator, servers)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+time.Second)
			defer cancel()
			r, err := netcheck.Run(ctx, addrs, wait)
			if err != nil {
				return err
			}
			paths, nodeUp := runningPaths(ctx, dir)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				out := jsonReport(r)
				if nodeUp {
					out.Node = &paths
				}
				return enc.Encode(out)
			}
			if _, err = fmt.Fprint(cmd.OutOrStdout(), r.String()); err != nil || !nodeUp {
				return err
			}
			printRelayRTTs(cmd.OutOrStdout(), paths)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&coordinator, "coordinator", envOr("WARD_COORDINATOR", "http://127.0.0.1:8080"), "coordinator URL; its host and port, on UDP, are the default STUN server")
	f.StringSliceVar(&servers, "stun", nil, "STUN server HOST:PORT (UDP), repeatable; replaces the coordinator's")
	f.DurationVar(&wait, "wait", 3*time.Second, "how long to wait for answers")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	addStateDirFlag(cmd, &dir)
	return cmd
}

// runningPaths asks the node running with state dir dir, if any, for its
// paths (relay round trips, home relay, reflexive address).
func runningPaths(ctx context.Context, dir string) (localapi.Paths, bool) {
	st, err := apiClient(dir).Status(ctx)
	if err != nil {
		return localapi.Paths{}, false
	}
	return st.Paths, true
}

// printRelayRTTs prints the running node's relays by round trip.
func printRelayRTTs(w io.Writer, ps localapi.Paths) {
	names := slices.Sorted(maps.Keys(ps.RelayRTT))
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(ps.RelayRTT[a], ps.RelayRTT[b]) })
	if ps.Relay != "" && !slices.Contains(names, ps.Relay) {
		names = append(names, ps.Relay)
	}
	if len(names) == 0 {
		fmt.Fprintln(w, "relays (running node): none measured yet")
		return
	}
	for _, n := range names {
		line := "relay " + n + ": " + latency(ps.RelayRTT[n])
		if n == ps.Relay {
			line += " (home"
			if !ps.RelayConnected {
				line += ", disconnected"
			}
			line += ")"
		}
		fmt.Fprintln(w, line)
	}
}

// stunServers returns the STUN servers to ask: servers when given, else
// the coordinator URL's host and port (80 or 443 when the URL has none).
func stunServers(coordinator string, servers []string) ([]string, error) {
	if len(servers) > 0 {
		return servers, nil
	}
	u, err := url.Parse(coordinator)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("--coordinator %q: not a URL with a host", coordinator)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if port == "" {
		return nil, fmt.Errorf("--coordinator %q: no port and scheme %q", coordinator, u.Scheme)
	}
	return []string{net.JoinHostPort(u.Hostname(), port)}, nil
}

// netcheckJSON is a netcheck.Report as `ward netcheck --json` prints it.
type netcheckJSON struct {
	// Node is the running node's paths, when one answered.
	Node      *localapi.Paths `json:"node,omitempty"`
	NAT       string          `json:"nat"`
	UDP       bool            `json:"udp"`
	Reflexive []string        `json:"reflexive"`
	Servers   []serverJSON    `json:"servers"`
}

// serverJSON is one STUN server's answer in netcheckJSON.
type serverJSON struct {
	Server string `json:"server"`
	Sees   string `json:"sees,omitempty"`
	RTTNs  int64  `json:"rtt_ns,omitempty"`
	Error  string `json:"error,omitempty"`
}

// jsonReport converts r for printing.
func jsonReport(r netcheck.Report) netcheckJSON {
	out := netcheckJSON{NAT: string(r.NAT), UDP: r.UDP, Reflexive: []string{}}
	for _, a := range r.Reflexive {
		out.Reflexive = append(out.Reflexive, a.String())
	}
	for _, o := range r.Observations {
		s := serverJSON{Server: o.Server.String()}
		if o.Err != nil {
			s.Error = o.Err.Error()
		} else {
			s.Sees, s.RTTNs = o.Mapped.String(), int64(o.RTT)
		}
		out.Servers = append(out.Servers, s)
	}
	return out
}
