//go:build !ward_omit_admin

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

func newAdminCmd() *cobra.Command { return adminCmd(&adminFlags{}) }

// adminCmd is `ward admin`, its commands sharing f.
func adminCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer a coordinator (nodes, keys, policy, audit, flows)"}
	f.addFlags(cmd.PersistentFlags())
	cmd.AddCommand(newAdminKeysCmd(f), newAdminAPIKeyCmd(f), newAdminNodesCmd(f), newAdminPolicyCmd(f), newAdminAuditCmd(f), newAdminFlowsCmd(f), newAdminUsersCmd(f), newAdminRelaysCmd(f), newAdminRequestsCmd(f), newAdminAlertsCmd(f), newAdminRolloutsCmd(f), newAdminRoutesCmd(f))
	return cmd
}

func newAdminKeysCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Pre-auth keys for devices"}
	var req wire.CreateAuthKeyRequest
	create := &cobra.Command{Use: "create", Short: "Create a pre-auth key (printed once)", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			if len(req.Tags) == 0 {
				return usageError{cmd, fmt.Errorf("--tags is required: the devices a pre-auth key registers are owned by its tags (--tags tag:camera)")}
			}
			var k wire.AuthKey
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminAuthKeys, req, &k); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), k)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Key)
			fmt.Fprintf(cmd.ErrOrStderr(), "pre-auth key %d (%s) tags=%s reusable=%v ephemeral=%v risk=%s expires %s; it is shown only once\n",
				k.ID, k.Prefix, strings.Join(k.Tags, ","), k.Reusable, k.Ephemeral, orDefault(k.RiskClass), k.Expiry.Format(time.RFC3339))
			return nil
		})}
	create.Flags().StringSliceVar(&req.Tags, "tags", nil, "tags for nodes registered with the key (tag:camera,...)")
	create.Flags().BoolVar(&req.Reusable, "reusable", false, "the key may register several nodes")
	create.Flags().BoolVar(&req.Ephemeral, "ephemeral", false, "nodes are removed once offline")
	create.Flags().StringVar(&req.Expiry, "expiry", "24h", "key lifetime")
	create.Flags().StringVar(&req.RiskClass, "risk", "", "risk class of the nodes the key registers (one the policy defines, such as critical)")
	list := &cobra.Command{Use: "list", Short: "List pre-auth keys", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var ks []wire.AuthKey
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAuthKeys, nil, &ks); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), ks)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tTAGS\tREUSABLE\tEPHEMERAL\tUSED\tEXPIRES\tREVOKED")
			for _, k := range ks {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%v\t%d\t%s\t%v\n", k.ID, k.Prefix, strings.Join(k.Tags, ","), k.Reusable, k.Ephemeral, k.UseCount, k.Expiry.Format(time.RFC3339), k.Revoked)
			}
			return tw.Flush()
		})}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke a pre-auth key", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			return c.do(cmd.Context(), http.MethodDelete, wire.PathAdminAuthKeys+"/"+url.PathEscape(args[0]), nil, nil)
		})}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newAdminAPIKeyCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Aliases: []string{"apikeys"}, Short: "API keys for admins and tools"}
	var req wire.CreateAPIKeyRequest
	create := &cobra.Command{Use: "create", Short: "Create an API key (printed once)", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var k wire.APIKey
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminAPIKeys, req, &k); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), k)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Key)
			return nil
		})}
	create.Flags().StringVar(&req.Description, "description", "", "what the key is for")
	create.Flags().StringVar(&req.Expiry, "expiry", "", "key lifetime (default: none)")
	create.Flags().StringSliceVar(&req.Scopes, "scope", nil,
		"what the key may do below its maker's role: "+strings.Join(admin.AllScopes, ", ")+" (repeatable; default: read)")
	list := &cobra.Command{Use: "list", Short: "List API keys", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var ks []wire.APIKey
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAPIKeys, nil, &ks); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), ks)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tDESCRIPTION\tSCOPES\tCREATED\tREVOKED")
			for _, k := range ks {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%v\n", k.ID, k.Prefix, k.Description, strings.Join(k.Scopes, ","),
					k.CreatedAt.Format(time.RFC3339), k.Revoked)
			}
			return tw.Flush()
		})}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an API key", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			return c.do(cmd.Context(), http.MethodDelete, wire.PathAdminAPIKeys+"/"+url.PathEscape(args[0]), nil, nil)
		})}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newAdminNodesCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Registered nodes"}
	printNode := func(cmd *cobra.Command, n wire.AdminNode) error {
		if f.asJSON {
			return writeJSON(cmd.OutOrStdout(), n)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "%s (id %d)\n  dns name: %s\n  addresses: %v %v\n  owner: %s%s\n  risk class: %s\n  online: %v  expired: %s  key expiry: %s\n  os: %s %s  exposed: %v\n  peers: %s\n",
			n.Name, n.ID, orDash(n.FQDN), n.IPv4, n.IPv6, n.User, strings.Join(n.Tags, ","), riskLabel(n), n.Online, expiredLabel(n),
			n.KeyExpiry.Format(time.RFC3339), n.OS, n.Version, n.ExposedPorts, strings.Join(n.Peers, ", "))
		return nil
	}
	var risk string
	var limit int
	list := &cobra.Command{Use: "list", Short: "List nodes (every page of the list, or the first --limit nodes)", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			q := url.Values{}
			if risk != "" {
				q.Set("risk", risk)
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (every node) or more", limit)
			}
			ns, err := listNodes(cmd.Context(), c, q, limit)
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), ns)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tIPV4\tOWNER\tRISK\tONLINE\tEXPIRED\tKEY EXPIRY")
			for _, n := range ns {
				owner := n.User
				if owner == "" {
					owner = strings.Join(n.Tags, ",")
				}
				fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\t%v\t%s\t%s\n", n.ID, n.Name, n.IPv4, owner, n.RiskClass, n.Online, expiredLabel(n), n.KeyExpiry.Format(time.RFC3339))
			}
			return tw.Flush()
		})}
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many nodes, in id order (0: every node)")
	list.Flags().StringVar(&risk, "risk", "", "list only the nodes of this risk class")
	show := &cobra.Command{Use: "show NODE", Short: "Show a node (id or name)", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminNodes+"/"+url.PathEscape(args[0]), nil, &n); err != nil {
				return err
			}
			return printNode(cmd, n)
		})}
	remove := &cobra.Command{Use: "remove NODE", Short: "Remove a node", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			return c.do(cmd.Context(), http.MethodDelete, wire.PathAdminNodes+"/"+url.PathEscape(args[0]), nil, nil)
		})}
	var revokeAuthKey bool
	expire := &cobra.Command{Use: "expire NODE", Short: "Expire a node's key now (a device's is revoked until approve or a new pre-auth key)", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			path := wire.PathAdminNodes + "/" + url.PathEscape(args[0]) + "/expire"
			if revokeAuthKey {
				path += "?revoke_auth_key=true"
			}
			if err := c.do(cmd.Context(), http.MethodPost, path, nil, &n); err != nil {
				return err
			}
			if n.AuthKeyUsable {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: pre-auth key %d, which registered %s, can still register new nodes; if it was on the device, revoke it (ward admin keys revoke %d, or expire with --revoke-auth-key)\n",
					n.AuthKeyID, n.Name, n.AuthKeyID)
			}
			return printNode(cmd, n)
		})}
	expire.Flags().BoolVar(&revokeAuthKey, "revoke-auth-key", false, "also revoke the pre-auth key the device registered with")
	approve := &cobra.Command{Use: "approve NODE", Short: "Let a device whose key an admin expired rotate to a new key and rejoin", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminNodes+"/"+url.PathEscape(args[0])+"/approve", nil, &n); err != nil {
				return err
			}
			return printNode(cmd, n)
		})}
	tag := &cobra.Command{Use: "tag NODE TAG...", Short: "Replace a node's tags", Args: cobra.MinimumNArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			req := wire.SetTagsRequest{Tags: args[1:]}
			if err := c.do(cmd.Context(), http.MethodPut, wire.PathAdminNodes+"/"+url.PathEscape(args[0])+"/tags", req, &n); err != nil {
				return err
			}
			return printNode(cmd, n)
		})}
	classify := &cobra.Command{Use: "classify NODE [CLASS]", Short: "Set a node's risk class (none: unclassified, the policy's default)", Args: cobra.RangeArgs(1, 2),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			req := wire.SetRiskClassRequest{}
			if len(args) == 2 {
				req.Class = args[1]
			}
			if err := c.do(cmd.Context(), http.MethodPut, wire.PathAdminNodes+"/"+url.PathEscape(args[0])+"/risk", req, &n); err != nil {
				return err
			}
			return printNode(cmd, n)
		})}
	rename := &cobra.Command{Use: "rename NODE NEW-NAME", Short: "Give a node a new DNS name (a-z, 0-9 and '-'; refused when another node has it)", Args: cobra.ExactArgs(2),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			var n wire.AdminNode
			req := wire.RenameNodeRequest{Name: args[1]}
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminNodes+"/"+url.PathEscape(args[0])+"/rename", req, &n); err != nil {
				return err
			}
			return printNode(cmd, n)
		})}
	cmd.AddCommand(list, show, remove, expire, approve, tag, classify, rename)
	return cmd
}

// riskLabel names n's risk class, saying when it is the policy's default.
func riskLabel(n wire.AdminNode) string {
	if n.RiskClassSet == "" {
		return n.RiskClass + " (unclassified: the policy's default)"
	}
	return n.RiskClass
}

// orDefault names an empty risk class.
func orDefault(class string) string {
	if class == "" {
		return "(policy default)"
	}
	return class
}

func newAdminPolicyCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "The ACL policy"}
	var comment string
	var parent int64
	set := &cobra.Command{Use: "set FILE", Short: "Validate, test and install a policy", Args: cobra.ExactArgs(1),
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, args []string) error {
			text, err := readPolicy(args[0])
			if err != nil {
				return err
			}
			var v wire.PolicyVersion
			req := wire.SetPolicyRequest{Text: string(text), Comment: comment, ParentID: parent}
			if err := c.do(cmd.Context(), http.MethodPut, wire.PathAdminPolicy, req, &v); err != nil {
				return inFile(err, args[0])
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy version %d is live\n", v.ID)
			return nil
		})}
	set.Flags().StringVar(&comment, "comment", "", "why the policy changes")
	set.Flags().Int64Var(&parent, "parent", -1, "refuse the save if the latest version is not this one (-1: no check)")
	get := &cobra.Command{Use: "get", Short: "Print the running policy", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var v wire.PolicyVersion
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminPolicy, nil, &v); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprint(cmd.OutOrStdout(), v.Text)
			return nil
		})}
	versions := &cobra.Command{Use: "versions", Short: "List policy versions", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			var vs []wire.PolicyVersion
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminPolicy+"/versions", nil, &vs); err != nil {
				return err
			}
			return printVersions(cmd.OutOrStdout(), f.asJSON, vs)
		})}
	cmd.AddCommand(set, get, versions)
	return cmd
}

// printVersions prints policy or alert rules versions as a table, or JSON.
func printVersions(w io.Writer, asJSON bool, vs []wire.PolicyVersion) error {
	if asJSON {
		return writeJSON(w, vs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPARENT\tAUTHOR\tTIME\tCOMMENT")
	for _, v := range vs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", v.ID, v.ParentID, v.Author, v.CreatedAt.Format(time.RFC3339), v.Comment)
	}
	return tw.Flush()
}

func newAdminAuditCmd(f *adminFlags) *cobra.Command {
	var since, action string
	var limit int
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit log"}
	list := &cobra.Command{Use: "list", Short: "Read the audit log", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			q := url.Values{}
			if since != "" {
				q.Set("since", since)
			}
			if action != "" {
				q.Set("action", action)
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var evs []wire.AuditEvent
			if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAudit+"?"+q.Encode(), nil, &evs); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(cmd.OutOrStdout(), evs)
			}
			for _, e := range evs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %-22s %-30s %s %s\n", e.Time.Format(time.RFC3339), e.Action, e.Actor, e.Target, e.Source)
			}
			return nil
		})}
	list.Flags().StringVar(&since, "since", "", "only events after this time (RFC 3339) or this long ago (1h)")
	list.Flags().StringVar(&action, "action", "", "only actions starting with this (node., flow.denied, policy., alert.)")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many events")
	cmd.AddCommand(list, newAdminAuditVerifyCmd(f), newAdminAuditExportCmd(f))
	return cmd
}

// expiredLabel says whether a node's key is expired, and when an admin
// revoked it, that it needs approval.
func expiredLabel(n wire.AdminNode) string {
	if n.KeyRevoked {
		return "revoked (needs approval)"
	}
	return fmt.Sprint(n.Expired)
}
