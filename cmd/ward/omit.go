package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// omitted is the stand-in of a command this build leaves out (a device
// agent's build, `make agent`): hidden from the help, it says which build
// tag took it out.
func omitted(use, tag string) *cobra.Command {
	return &cobra.Command{
		Use:                use,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("ward %s is not in this build (built with -tags %s; use the full build)", use, tag)
		},
	}
}
