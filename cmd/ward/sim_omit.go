//go:build ward_omit_sim

package main

import "github.com/spf13/cobra"

// newSimCmd stands in for `ward sim`, the fleet simulator.
func newSimCmd() *cobra.Command { return omitted("sim", "ward_omit_sim") }
