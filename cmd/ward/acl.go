//go:build !ward_omit_admin

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/acl"
)

func newACLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Check, explain and compile ACL policies",
	}
	cmd.AddCommand(newACLCheckCmd(), newACLExplainCmd(), newACLCompileCmd())
	return cmd
}

// checkOutput is the --json shape of `ward acl check`.
type checkOutput struct {
	OK       bool             `json:"ok"`
	Errors   []acl.Problem    `json:"errors"`
	Tests    []acl.TestResult `json:"tests"`
	Warnings []string         `json:"warnings,omitempty"`
}

func newACLCheckCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy and run its tests",
		Long: "Validates the policy (syntax, references, ports, protocols) and runs its tests.\n" +
			"Prints ok, or every problem as FILE:line:col: message. Exits 0 only when the\n" +
			"policy is valid and every test passes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := readPolicy(args[0])
			if err != nil {
				return err
			}
			rs, results, err := acl.Check(args[0], src, acl.Options{})
			out := checkOutput{OK: err == nil, Errors: acl.Problems(err), Tests: results}
			if out.Errors == nil {
				out.Errors = []acl.Problem{}
			}
			if out.Tests == nil {
				out.Tests = []acl.TestResult{}
			}
			if rs != nil {
				for _, k := range rs.Policy().Ignored {
					out.Warnings = append(out.Warnings, fmt.Sprintf("%s:%s: %q is accepted but not used by Ward", args[0], k.Pos, k.S))
				}
			}
			return printCheck(cmd.OutOrStdout(), cmd.ErrOrStderr(), out, err, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printCheck(stdout, stderr io.Writer, out checkOutput, err error, asJSON bool) error {
	if asJSON {
		if jerr := writeJSON(stdout, out); jerr != nil {
			return jerr
		}
		if err != nil {
			return errSilent
		}
		return nil
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		if len(out.Errors) == 0 {
			return err
		}
		for _, p := range out.Errors {
			fmt.Fprintln(stderr, p)
		}
		return errSilent
	}
	fmt.Fprintf(stdout, "ok (%d test results passed)\n", len(out.Tests))
	return nil
}

func newACLExplainCmd() *cobra.Command {
	var src, dst, proto string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain FILE --src IDENTITY --dst ALIAS:PORT [--proto tcp]",
		Short: "Say whether an identity may reach a destination, and which rule decides",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := loadRuleset(args[0])
			if err != nil {
				return err
			}
			d, err := rs.Explain(src, dst, proto)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			verdict := "deny"
			if d.Allow {
				verdict = "allow"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", verdict, d.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&src, "src", "", "source identity: a user email, group:, tag:, host or IP")
	cmd.Flags().StringVar(&dst, "dst", "", "destination as ALIAS:PORT")
	cmd.Flags().StringVar(&proto, "proto", "", "protocol name or number (default tcp)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	_ = cmd.MarkFlagRequired("src")
	_ = cmd.MarkFlagRequired("dst")
	return cmd
}

// compileOutput is the contract of `ward acl compile --json`.
type compileOutput struct {
	Nodes map[string]acl.NodeResult `json:"nodes"`
}

func newACLCompileCmd() *cobra.Command {
	var invPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compile FILE --inventory INVENTORY.json --json",
		Short: "Compile a policy for an inventory and print every node's peers and filter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := readInventory(invPath)
			if err != nil {
				return err
			}
			src, err := readPolicy(args[0])
			if err != nil {
				return err
			}
			rs, _, err := acl.Check(args[0], src, acl.Options{ExternalGroups: inv.ExternalGroups()})
			if err != nil {
				return err
			}
			c, err := acl.Compile(rs, inv)
			if err != nil {
				return fmt.Errorf("compile: %w", err)
			}
			out := compileOutput{Nodes: c.All()}
			if !asJSON {
				return printCompiled(cmd.OutOrStdout(), out)
			}
			return writeJSON(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVar(&invPath, "inventory", "", "inventory JSON: {\"users\": [...], \"nodes\": [...]}")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("inventory")
	return cmd
}

func printCompiled(w io.Writer, out compileOutput) error {
	for _, name := range sortedKeys(out.Nodes) {
		r := out.Nodes[name]
		fmt.Fprintf(w, "%s: %d peers, %d filter rules\n", name, len(r.Peers), len(r.Filter))
		for _, p := range r.Peers {
			fmt.Fprintf(w, "  peer %s\n", p)
		}
		for _, f := range r.Filter {
			fmt.Fprintf(w, "  allow %v -> %v protos %v\n", f.Src, f.Dst, f.EffectiveProtos())
		}
	}
	return nil
}

func loadRuleset(path string) (*acl.Ruleset, error) {
	src, err := readPolicy(path)
	if err != nil {
		return nil, err
	}
	p, err := acl.Parse(path, src)
	if err != nil {
		if _, _, cerr := acl.Check(path, src, acl.Options{}); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return acl.Resolve(p, acl.Options{})
}

func readPolicy(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, acl.MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", path, err)
	}
	return b, nil
}

func readInventory(path string) (acl.Inventory, error) {
	var inv acl.Inventory
	b, err := os.ReadFile(path)
	if err != nil {
		return inv, fmt.Errorf("read inventory: %w", err)
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return inv, fmt.Errorf("inventory %s: bad JSON at byte %d: %w", path, se.Offset, err)
		}
		return inv, fmt.Errorf("inventory %s: %w", path, err)
	}
	return inv, nil
}

// printPolicyProblems prints err's policy problems, which are already
// FILE:line:col: message lines, one a line, and reports whether it had
// any.
func printPolicyProblems(w io.Writer, err error) bool {
	probs := acl.Problems(err)
	for _, p := range probs {
		fmt.Fprintln(w, p)
	}
	return probs != nil
}
