package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// requestFlags are the flags of `ward request` and `ward requests`.
type requestFlags struct {
	stateDir, caFile string
	insecure, asJSON bool
}

func (f *requestFlags) add(cmd *cobra.Command) {
	addStateDirFlag(cmd, &f.stateDir)
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM CA certificates that verify the coordinator (default: the system's)")
	cmd.Flags().BoolVar(&f.insecure, "dev-insecure-http", false, "allow a plain-http coordinator on loopback (development only)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
}

// client returns a control client acting as the logged-in person's node
// of the state directory.
func (f *requestFlags) client() (*control.Client, error) {
	st, err := node.LoadPersonState(f.stateDir)
	if err != nil {
		return nil, fmt.Errorf("read the client's state in %s: %w", f.stateDir, err)
	}
	if st.Session == nil || st.Coordinator == "" {
		return nil, fmt.Errorf("not logged in (state in %s): run ward up first", f.stateDir)
	}
	return control.New(control.Config{URL: st.Coordinator, AllowInsecureHTTP: f.insecure, MachineKey: st.MachineKey, CAFile: f.caFile})
}

// newRequestCmds returns `ward request` (ask for time-bound access) and
// `ward requests` (the person's requests and their decisions).
func newRequestCmds() []*cobra.Command {
	var f requestFlags
	var dur, reason, proto string
	var wait bool
	req := &cobra.Command{Use: "request DEVICE:PORT --for 2h --reason TEXT", Short: "Ask for time-bound access to one port of a device; the policy's approvers decide",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, portText, err := net.SplitHostPort(args[0])
			port, perr := strconv.ParseUint(portText, 10, 16)
			if err != nil || perr != nil || host == "" || port == 0 {
				return usageError{cmd, fmt.Errorf("%q is not DEVICE:PORT (such as cam-7:22)", args[0])}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			r, err := c.RequestAccess(cmd.Context(), wire.AccessRequestCreate{Device: host, Port: uint16(port), Proto: proto, Duration: dur, Reason: reason})
			if err != nil {
				return err
			}
			if err := printRequests(cmd.OutOrStdout(), f.asJSON, r); err != nil || !wait {
				return err
			}
			return waitDecision(cmd.Context(), cmd.OutOrStdout(), apiClient(f.stateDir), r.ID)
		}}
	f.add(req)
	req.Flags().StringVar(&dur, "for", "1h", "how long the access lasts once approved")
	req.Flags().StringVar(&reason, "reason", "", "why (an incident or ticket), shown to the approvers")
	req.Flags().StringVar(&proto, "proto", "tcp", "protocol")
	req.Flags().BoolVar(&wait, "wait", false, "wait for the decision, which the coordinator pushes to the running client, and print it (exit 1 unless approved)")
	var lf requestFlags
	var watch bool
	list := &cobra.Command{Use: "requests", Short: "List your access requests and their decisions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if watch {
				return watchRequests(cmd.Context(), apiClient(lf.stateDir), func(r wire.AccessRequest) bool {
					fmt.Fprintln(cmd.OutOrStdout(), decisionLine(r))
					return false
				})
			}
			c, err := lf.client()
			if err != nil {
				return err
			}
			rs, err := c.AccessRequests(cmd.Context())
			if err != nil {
				return err
			}
			return printRequests(cmd.OutOrStdout(), lf.asJSON, rs...)
		}}
	lf.add(list)
	list.Flags().BoolVar(&watch, "watch", false, "print each request, then each decision the moment the coordinator pushes it to the running client, until interrupted")
	return []*cobra.Command{req, list}
}

// printRequests prints access requests one a line, or as JSON.
func printRequests(w io.Writer, asJSON bool, rs ...wire.AccessRequest) error {
	if asJSON {
		if len(rs) == 1 {
			return writeJSON(w, rs[0])
		}
		return writeJSON(w, rs)
	}
	for _, r := range rs {
		line := fmt.Sprintf("request %d: %s %s:%d/%s for %s, %s", r.ID, r.Requester, r.Device, r.Port, r.Proto,
			time.Duration(r.DurationMillis)*time.Millisecond, r.Status)
		switch {
		case r.Status == "pending" && len(r.Approvers) > 0:
			line += "; approvers: " + strings.Join(r.Approvers, " and ")
		case !r.Expires.IsZero():
			line += fmt.Sprintf(" by %s, until %s", r.DecidedBy, r.Expires.Format(time.RFC3339))
		case r.DecidedBy != "":
			line += " by " + r.DecidedBy
		}
		if r.Reason != "" {
			line += " (" + r.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// newAdminRequestsCmd is `ward admin requests list|approve|deny|revoke`.
func newAdminRequestsCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "requests", Short: "Just-in-time access requests: list them; approve or deny them (as one of the policy's approvers); revoke an approved one"}
	list := &cobra.Command{Use: "list", Short: "List access requests, newest first", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var rs []wire.AccessRequest
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminRequests, nil, &rs); err != nil {
				return err
			}
			return printRequests(cmd.OutOrStdout(), f.asJSON, rs...)
		})}
	cmd.AddCommand(list)
	for _, verb := range []string{"approve", "deny", "revoke"} {
		cmd.AddCommand(&cobra.Command{Use: verb + " ID", Short: strings.ToUpper(verb[:1]) + verb[1:] + " an access request", Args: cobra.ExactArgs(1),
			RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
				var r wire.AccessRequest
				if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminRequests+"/"+url.PathEscape(args[0])+"/"+verb, nil, &r); err != nil {
					return err
				}
				return printRequests(cmd.OutOrStdout(), f.asJSON, r)
			})})
	}
	return cmd
}
