//go:build ward_omit_relay

package main

import "github.com/spf13/cobra"

// newRelayCmd stands in for `ward relay`, the standalone relay server (a
// node's relay client is part of every build).
func newRelayCmd() *cobra.Command { return omitted("relay", "ward_omit_relay") }
