//go:build ward_omit_admin

package main

import (
	"io"

	"github.com/spf13/cobra"
)

// newACLCmd stands in for `ward acl`, the policy tools.
func newACLCmd() *cobra.Command { return omitted("acl", "ward_omit_admin") }

// newAdminCmd stands in for `ward admin`, the fleet administration.
func newAdminCmd() *cobra.Command { return omitted("admin", "ward_omit_admin") }

// printPolicyProblems reports no policy problems: without `ward acl` and
// `ward admin` nothing in this build gives any.
func printPolicyProblems(io.Writer, error) bool { return false }
