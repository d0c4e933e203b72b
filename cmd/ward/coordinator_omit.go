//go:build ward_omit_coordinator

package main

import "github.com/spf13/cobra"

// newCoordinatorCmd stands in for `ward coordinator`, left out with the
// coordinator, its web UI, the dev IdP and SQLite.
func newCoordinatorCmd() *cobra.Command { return omitted("coordinator", "ward_omit_coordinator") }

// defaultAdminKeyFile is empty: this build runs no coordinator whose
// bootstrap key the admin CLI could read.
func defaultAdminKeyFile() string { return "" }
