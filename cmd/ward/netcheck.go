package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/netcheck"
)

// newNetcheckCmd returns `ward netcheck`.
func newNetcheckCmd() *cobra.Command {
	var coordinator string
	var servers []string
	var wait time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "netcheck",
		Short: "Report this machine's NAT type, reflexive address and UDP reachability",
		Long: "Asks STUN servers over UDP which address this machine's packets come from.\n" +
			"By default it asks the coordinator (the host and port of --coordinator, on UDP).\n" +
			"Telling endpoint-independent from symmetric NAT needs two servers or ports:\n" +
			"give --stun twice (e.g. the coordinator's --stun-listen and --stun-listen-alt).",
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
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(jsonReport(r))
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), r.String())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&coordinator, "coordinator", envOr("WARD_COORDINATOR", "http://127.0.0.1:8080"), "coordinator URL; its host and port, on UDP, are the default STUN server")
	f.StringSliceVar(&servers, "stun", nil, "STUN server HOST:PORT (UDP), repeatable; replaces the coordinator's")
	f.DurationVar(&wait, "wait", 3*time.Second, "how long to wait for answers")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
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
	NAT       string       `json:"nat"`
	UDP       bool         `json:"udp"`
	Reflexive []string     `json:"reflexive"`
	Servers   []serverJSON `json:"servers"`
}

// serverJSON is one STUN server's answer in netcheckJSON.
type serverJSON struct {
	Server string `json:"server"`
	Sees   string `json:"sees,omitempty"`
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
			s.Sees = o.Mapped.String()
		}
		out.Servers = append(out.Servers, s)
	}
	return out
}
