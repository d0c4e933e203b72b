//go:build ward_omit_update

package main

import "github.com/spf13/cobra"

// newReleaseCmd stands in for `ward release`, the admin's TUF tools,
// which go-tuf's package release brings in with node/update.
func newReleaseCmd() *cobra.Command { return omitted("release", "ward_omit_update") }
